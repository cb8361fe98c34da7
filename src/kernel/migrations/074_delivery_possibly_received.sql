-- older builds: run beside
-- When an attempt of a delivery that failed may still have reached the receiver (no answer in time, the connection
-- lost after the request was written, a 5xx from a receiver that may have stored it first): set by the first such
-- attempt and kept. A referral the practice cancels while its retry waits counts as possibly sent because of it, so
-- its cancellation goes out (deliver.ts). Older builds neither set nor read it: they treat such a referral as never
-- sent, as before.
ALTER TABLE delivery ADD COLUMN IF NOT EXISTS possibly_received_at timestamptz;
