-- older builds: run beside
-- Which child an event denied for a consent reason is about, as a keyed hash (`child_key`): a consent recorded for a
-- child finds that child's denied events by it (redecide.ts), instead of decrypting the practice's denied events one
-- by one to compare the BSN, and only the first 1,000 of them at that. An HMAC under a key derived from the report
-- pseudonym key (report-pseudonym.ts `inboxChildKey`), kept outside the database, and per practice: no BSN, and a
-- copy of the database alone cannot turn it back into one. Written by the map and deliver stages right after the
-- denial; removed with the payload at retention. SQL cannot fill it for the events denied before this migration (it
-- needs the decrypted event): those keep NULL, and a consent still looks at them the old way, decrypting each, and
-- fills in the key of each it opened, so each is opened once.
ALTER TABLE inbox ADD COLUMN child_key text;
CREATE INDEX inbox_denied_child ON inbox (tenant, child_key, updated_at) WHERE state = 'denied';
