-- older builds: run beside
-- Which consent event last wrote each consent of the registry (withdrawal-notice.ts): a delivery that finds, once its
-- disclosure is recorded, that the child's consents changed since its decision read them, tells the municipality
-- through that consent event's withdrawal notice (the consent event's own search may have run before the disclosure
-- was recorded). NULL for consents written before this migration. Catalog only: no rewrite, nothing waits.
ALTER TABLE consent ADD COLUMN IF NOT EXISTS inbox_id uuid;
