-- older builds: run beside
-- `GET /fhir/ServiceRequest?_tag=…|consent-withdrawn`: the referrals a withdrawal notice was made for, few among the
-- many a municipality received. Read through 085's page index, a page filtered them out of every row of the
-- destination and status (and a count read every row); through this partial index, which holds only the rows with
-- `consent_withdrawn_at`, a page is a range of the rows it shows, in either direction, as without `_tag`.
-- `_tag:not` (most rows) keeps reading 085's index. Building it reads `received_service_request` once (its rows are
-- one per destination and referral; writes of the refresh wait meanwhile, well under a second per 100,000 rows). Not
-- CONCURRENTLY: the migrations of a start-up run in one transaction, where that is not allowed.
CREATE INDEX IF NOT EXISTS received_service_request_withdrawn
  ON received_service_request (destination, status, last_updated, service_request_id)
  WHERE consent_withdrawn_at IS NOT NULL;
