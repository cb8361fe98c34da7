-- older builds: run beside
-- The reconciler asks for pending deliveries nobody touched for a while (stalePendingDeliveries) at start-up and
-- once a minute, in every worker process. With no index that serves the question it read the whole delivery table
-- each time: about 160 ms and 48,000 pages at a million deliveries, nearly all of them delivered long ago. This index
-- holds only the pending ones, as inbox_open, feedback_open and trajectory_event_open do for their tables. The state
-- moves cannot use it to find a delivery (event-store.ts, "How the state moves find their rows"): they go by id.
CREATE INDEX delivery_pending ON delivery (updated_at) WHERE state = 'pending';
