-- older builds: run beside
-- A HIS polls its events' states (GET /his/v1/events). `_since` read the practice's events by receipt and filtered
-- `updated_at`: each poll read the practice's whole history. Its events by when their state changed, a page at a
-- time by (updated_at, id). Its two indexes are built without CONCURRENTLY (a migration runs in one transaction): each
-- build reads `inbox` once, and writes to it wait meanwhile (receipts of HIS events and every state change), about a
-- second per million events each on a 2-core test machine. After, each receipt and each state change writes one
-- entry more into each of them (a state change was no HOT update before either: `inbox_open` indexes `state`).
CREATE INDEX IF NOT EXISTS inbox_practice_updated ON inbox (tenant, updated_at, id);

-- `updated_at` is when the transaction that changed the state began, so a change committed after a poll can carry a
-- time before it, and a poll from a moment misses it. `changed_xid` is that transaction's id. A poll answers the
-- oldest transaction still running when it read (`pollFrom`, a snapshot's xmin): every transaction below it had
-- ended, so the next poll, of the events changed by a transaction from it on, misses none.
--
-- Set by the database on every insert (the column's default) and on every update that sets `updated_at` or `state`
-- (a trigger whose WHEN leaves every other write, an ack, a purge, bookkeeping, without a call), so no writer can
-- forget it, an older build running beside this one included. The column is added without a default, then given
-- one: the events there before this keep none, and the table is not rewritten. They need none: every transaction that
-- wrote them ended before any `pollFrom` was taken.
ALTER TABLE inbox ADD COLUMN IF NOT EXISTS changed_xid xid8;
ALTER TABLE inbox ALTER COLUMN changed_xid SET DEFAULT pg_current_xact_id();

CREATE OR REPLACE FUNCTION inbox_changed_xid() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.changed_xid := pg_current_xact_id();
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS inbox_changed_xid ON inbox;
CREATE TRIGGER inbox_changed_xid BEFORE UPDATE ON inbox
  FOR EACH ROW
  WHEN (NEW.updated_at IS DISTINCT FROM OLD.updated_at OR NEW.state IS DISTINCT FROM OLD.state)
  EXECUTE FUNCTION inbox_changed_xid();

-- The practice's events by the transaction that last changed them, a page at a time by (changed_xid, id).
CREATE INDEX IF NOT EXISTS inbox_practice_changed ON inbox (tenant, changed_xid, id) WHERE changed_xid IS NOT NULL;

-- Unused since 070: the municipality's received referrals read `delivery_first_delivered` for every state
-- (tests/integration/delivered-before-index.test.ts). No build's code names it; 7ffe0bb's received referrals, which
-- its planner served, read `delivery` whole for the redelivered ones without it (slower, not wrong). Dropping it
-- takes `delivery`'s exclusive lock for a moment: nothing is read or rebuilt.
DROP INDEX IF EXISTS delivery_delivered_before;
