-- older builds: run beside
-- The encrypted columns (AES-256-GCM ciphertext) cannot be compressed, yet a row over the TOAST threshold (the inbox's
-- canonical event alone is about 2.5 kB) had PostgreSQL try, with pglz, on every insert before storing the bytes as
-- they are: about 3 % of PostgreSQL's CPU in the pipeline's throughput run. EXTERNAL moves them out of line the same
-- way, without the attempt. Rows stored already keep their bytes; this changes only how new values are stored.
ALTER TABLE inbox ALTER COLUMN payload SET STORAGE EXTERNAL;
ALTER TABLE inbox ALTER COLUMN canonical SET STORAGE EXTERNAL;
ALTER TABLE trajectory_event ALTER COLUMN payload SET STORAGE EXTERNAL;
