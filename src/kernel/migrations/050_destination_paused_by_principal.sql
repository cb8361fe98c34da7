-- older builds: run beside
-- Who paused a destination, as the audit trail names the principal (`api-key:<id>`, `jwt:<issuer>#<subject>`, or
-- `system/worker` for an automatic pause): the operator's pages and GET /admin/v1/destinations/{id}/status show it
-- beside the reason, without a search of the audit chain per destination. NULL while running, and for a pause
-- recorded before this migration (the audit chain `destination/<id>` names who made it).
-- Catalog change only: one nullable column on a table of one row per destination.
ALTER TABLE destination_state ADD COLUMN IF NOT EXISTS paused_by_principal text;
