-- older builds: run beside
-- /metrics reports how long the oldest pending delivery of each destination has waited
-- (jeugdbrug_oldest_pending_delivery_age_seconds), at every scrape of every process. It counts from the start of the
-- delivery's current round (`pending_since`): its creation, or the replay, redelivery or decision again that gave it a
-- new one; from its creation, a redelivery from a backup hours old would read as hours of waiting at once.
-- delivery_pending (017) is by updated_at, which each attempt moves on; without the index below the question reads
-- every pending delivery, so it costs most when a backlog is largest, during a receiver's outage or a long pause.
-- The column's default is taken once (catalog only). The pending deliveries of the moment count from the start of
-- their round as the history shows it: one in its first round (round 0) from its creation; one in a later round
-- (replayed, redelivered, decided again) from its event's latest move to `decided` other than the first (the first is
-- the decision that created the delivery), since that move is the new round's. From its creation, a dead letter
-- replayed just before the upgrade would read as days old and fire the waiting-delivery alert at once. The move is
-- written in the new round's transaction a moment after the delivery's `updated_at` (the transaction's start), so
-- moves up to a minute after it count and the result is at most `updated_at`; with no such move recorded (its event
-- was not moved), from `updated_at`, the round's start or its latest attempt since.
-- Building the index reads `delivery` once; writes to it wait meanwhile (about a second per million deliveries).
ALTER TABLE delivery ADD COLUMN IF NOT EXISTS pending_since timestamptz NOT NULL DEFAULT now();
UPDATE delivery d SET pending_since = CASE
    WHEN d.round = 0 THEN d.created_at
    ELSE least(d.updated_at, coalesce((
      SELECT max(h.at) FROM inbox_history h
      WHERE h.inbox_id = d.inbox_id AND h.state = 'decided' AND h.at <= d.updated_at + interval '1 minute'
        AND h.id > (SELECT min(f.id) FROM inbox_history f WHERE f.inbox_id = d.inbox_id AND f.state = 'decided')
    ), d.updated_at))
  END
WHERE d.state = 'pending';
CREATE INDEX IF NOT EXISTS delivery_pending_age ON delivery (destination, pending_since) WHERE state = 'pending';
