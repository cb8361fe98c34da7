-- older builds: run beside
-- /metrics reports how long the oldest pending delivery of each destination has waited
-- (jeugdbrug_oldest_pending_delivery_age_seconds), at every scrape of every process. It counts from the start of the
-- delivery's current round (`pending_since`): its creation, or the replay, redelivery or decision again that gave it a
-- new one; from its creation, a redelivery from a backup hours old would read as hours of waiting at once.
-- delivery_pending (017) is by updated_at, which each attempt moves on; without the index below the question reads
-- every pending delivery, so it costs most when a backlog is largest, during a receiver's outage or a long pause.
-- The column's default is taken once (catalog only); the pending deliveries of the moment count from their creation.
-- Building the index reads `delivery` once; writes to it wait meanwhile (about a second per million deliveries).
ALTER TABLE delivery ADD COLUMN IF NOT EXISTS pending_since timestamptz NOT NULL DEFAULT now();
UPDATE delivery SET pending_since = created_at WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS delivery_pending_age ON delivery (destination, pending_since) WHERE state = 'pending';
