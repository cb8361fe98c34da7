-- older builds: run beside
-- The trigger of migration 070 that keeps `delivery.first_delivered_at` ran its function for every insert and update
-- of `delivery`: each attempt, each pending delivery's bookkeeping. It now runs only for a write whose row it changes:
-- one with a `delivered_at` that is earlier than `first_delivered_at`, or one without `first_delivered_at` (`least`
-- skips a NULL: for any other row it returns `first_delivered_at` as it was). What it keeps is the same, for every
-- build's writes; only the calls that changed nothing are gone.
--
-- CREATE OR REPLACE TRIGGER (PostgreSQL 14 on) replaces it in place, never without one: writes to `delivery` wait for
-- it (SHARE ROW EXCLUSIVE, a moment), reads go on.
CREATE OR REPLACE TRIGGER delivery_first_delivered BEFORE INSERT OR UPDATE ON delivery
  FOR EACH ROW
  WHEN (NEW.delivered_at IS NOT NULL
    AND (NEW.first_delivered_at IS NULL OR NEW.delivered_at < NEW.first_delivered_at))
  EXECUTE FUNCTION delivery_first_delivered();
