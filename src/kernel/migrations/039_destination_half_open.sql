-- older builds: run beside
-- Half-open, as a circuit breaker: a successful probe of an automatically paused destination does not release every
-- waiting job at once (a FHIR server may serve its CapabilityStatement while its transactions fail); it lets one
-- trial delivery through, and the destination resumes only when that one is accepted (src/event/destination-health.ts).
-- Catalog change only: three nullable columns on a table of one row per destination.
ALTER TABLE destination_state
  ADD COLUMN half_open_at timestamptz,       -- set by a successful probe; NULL again once the trial has ended
  ADD COLUMN trial_delivery uuid,            -- the delivery that claimed the trial (NULL: the next one takes it)
  ADD COLUMN trial_claimed_at timestamptz;
