-- /metrics reports how long the oldest pending delivery of each destination has waited
-- (jeugdbrug_oldest_pending_delivery_age_seconds), at every scrape of every process. delivery_pending (017) is by
-- updated_at, which each attempt moves on; without this index the question reads every pending delivery, so it costs
-- most when a backlog is largest, during a receiver's outage or a long pause. This one holds only the pending
-- deliveries, by destination and creation: the oldest of a destination is its first entry. Building it reads
-- `delivery` once; writes to it wait meanwhile (about a second per million deliveries).
CREATE INDEX IF NOT EXISTS delivery_pending_age ON delivery (destination, created_at) WHERE state = 'pending';
