-- older builds: run beside
-- inbox_open is meant to hold only the events the pipeline has not finished, so that the reconciler finds them
-- without reading the history. Its condition left out delivered, denied, failed and dead, but not completed (a consent
-- event, recorded with nothing to send), so every consent event ever received stayed in it. The same index, with
-- every finished state left out (TERMINAL_STATES in src/event/states.ts). Rebuilding it reads the inbox once, with
-- the inbox locked meanwhile (about a second per million events).
DROP INDEX inbox_open;
CREATE INDEX inbox_open ON inbox (state, updated_at)
  WHERE state NOT IN ('delivered', 'completed', 'denied', 'failed', 'dead');
