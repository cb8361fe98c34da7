-- older builds: run beside
-- The scheduled push of a quarter's monitoring report: one row per municipality and period, claimed in the same
-- transaction that stores the report's delivery. A second worker process, or the same one after a restart, finds
-- the row and sends nothing; an operator's own push of that period is not held back by it.
CREATE TABLE monitoring_push_claim (
  municipality text NOT NULL,           -- CBS code (GM0226)
  period text NOT NULL,                 -- 2026-Q3
  inbox_id uuid NOT NULL REFERENCES inbox (id),
  claimed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (municipality, period)
);
