-- older builds: run beside
-- A municipality's trajectory event stored by a request that then failed before its receipt was audited (the
-- municipality was answered 503) is no longer delivered on jeugdbrug's initiative: the reconciler holds it in a new
-- state, `unacknowledged` (TRAJECTORY_STEPS in src/event/states.ts), until the municipality sends it again. Each round
-- asks for the held ones, so trajectory_event_open, the partial index of the rows the reconciler and the operator look
-- for, holds those too: a round need not read every trajectory event ever delivered. Rebuilding it reads
-- trajectory_event once, with writes to it waiting meanwhile. `state` is text; no column changes.
DROP INDEX trajectory_event_open;
CREATE INDEX trajectory_event_open ON trajectory_event (state, updated_at)
  WHERE state IN ('pending', 'unacknowledged', 'dead');
