-- older builds: stop
-- A follow-up withdrawal notice (withdrawal-notice.ts): a disclosure recorded after its consent event's notice to the
-- destination was created never joins that notice (it may be on its way already, built without it); it gets a notice
-- of its own, a second delivery of the consent event to the same destination. `follow_up_of` names the late
-- disclosure (`child_disclosure.delivery_id`); NULL for every other delivery, which stays one per (event,
-- destination): the unique key becomes (event, destination, follow_up_of) with NULLs equal. The new index is built
-- before the old constraint is dropped (one read of `delivery`; writes to it wait meanwhile), so the key holds
-- throughout. The column is catalog only.
ALTER TABLE delivery ADD COLUMN IF NOT EXISTS follow_up_of uuid;
CREATE UNIQUE INDEX IF NOT EXISTS delivery_event_destination ON delivery (inbox_id, destination, follow_up_of)
  NULLS NOT DISTINCT;
ALTER TABLE delivery DROP CONSTRAINT IF EXISTS delivery_inbox_id_destination_key;
