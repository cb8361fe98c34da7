-- older builds: run beside
-- When a receiver first accepted a delivery. `delivered_at` is when it last did: an operator's redelivery (a
-- municipality lost what it received) moves it. The municipality's received referrals (its console's list, newest
-- first a page at a time, and its days Van / Tot en met) are by when it first received them: a referral sent again
-- neither jumps to the top nor changes the day it came.
--
-- Set by the database on every insert and update, so no writer can forget it, an older build running beside this one
-- included: the earliest `delivered_at` the delivery has had (`least` skips a NULL). `delivered_at` only moves on,
-- so this is set once, by the attempt that first delivered it.
ALTER TABLE delivery ADD COLUMN IF NOT EXISTS first_delivered_at timestamptz;

CREATE OR REPLACE FUNCTION delivery_first_delivered() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.first_delivered_at := least(NEW.first_delivered_at, NEW.delivered_at);
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS delivery_first_delivered ON delivery;
CREATE TRIGGER delivery_first_delivered BEFORE INSERT OR UPDATE ON delivery
  FOR EACH ROW EXECUTE FUNCTION delivery_first_delivered();

-- The deliveries there: `delivered_at` is all that is known of them. One already sent again before this migration
-- keeps the time of its last delivery. Writes every delivered row once (about half a minute per million deliveries on
-- a 2-core test machine); writes to `delivery` wait meanwhile, as for the index below.
UPDATE delivery SET first_delivered_at = delivered_at WHERE delivered_at IS NOT NULL AND first_delivered_at IS NULL;

-- The received referrals by destination, newest first receipt first; one index for all states, since a delivery
-- keeps it whatever becomes of it (a redelivery under way, failed, or stopped by the practice's cancellation).
-- Not CONCURRENTLY: the migrations of a start-up run in one transaction, where that is not allowed.
CREATE INDEX IF NOT EXISTS delivery_first_delivered ON delivery (destination, first_delivered_at, id)
  WHERE first_delivered_at IS NOT NULL;
