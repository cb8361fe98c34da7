-- older builds: run beside
-- `GET /fhir/ServiceRequest` without `identifier` built every referral a municipality ever received for each page
-- and again for its total: a referral's last change (`meta.lastUpdated`) and status come from its deliveries, the
-- practice's cancellation and the statuses sent, so no index could order them. They are now kept here, one row per
-- destination and referral (the practice's newest delivered version of it), and a page is a range of an index.
--
-- The rows are computed by the product (`refreshReceivedServiceRequests` in
-- src/reports/service-request-search/received-service-requests.ts, the search's own definition), never here. The
-- database only marks a referral stale when something it is computed from is written: triggers on `delivery` (a
-- delivery or redelivery of a version or of the practice's cancellation), `feedback` (a status sent),
-- `referral_identifier` (a new version, a ServiceRequest id filled in) and `child_disclosure` (a withdrawal notice
-- made for a delivered version: served as a tag, and its time as the last change). Triggers, so that the writes of
-- an older build running beside this one mark it too. The search brings the stale ones up to date before it reads,
-- as does each start-up; until the first start-up after this migration every received referral is stale.
CREATE TABLE IF NOT EXISTS received_service_request (
  destination text NOT NULL,
  tenant text NOT NULL,
  system text NOT NULL,
  value text NOT NULL,
  service_request_id uuid NOT NULL,
  -- The version served: the practice's newest delivered `referral.created` of the referral.
  inbox_id uuid NOT NULL,
  patient_id uuid,
  -- As served: active, revoked or completed.
  status text NOT NULL,
  -- When a withdrawal notice was made for the served version's delivery here (served as meta.tag
  -- consent-withdrawn); NULL while none was. It counts in `last_updated` too.
  consent_withdrawn_at timestamptz,
  last_updated timestamptz NOT NULL,
  PRIMARY KEY (destination, tenant, system, value)
);
-- A page: the rows of one destination and status in (last change, id) order, in either direction.
CREATE INDEX IF NOT EXISTS received_service_request_page
  ON received_service_request (destination, status, last_updated, service_request_id);
-- A referral received at more than one destination of a municipality is served once: its other rows, by its id.
CREATE INDEX IF NOT EXISTS received_service_request_id ON received_service_request (service_request_id);

CREATE TABLE IF NOT EXISTS received_service_request_stale (
  tenant text NOT NULL,
  system text NOT NULL,
  value text NOT NULL,
  PRIMARY KEY (tenant, system, value)
);

-- The referral of the event `inbox`, if it is one, is stale. A referral already marked has its mark updated, not
-- left alone: the update holds the mark until this write commits, so a refresh that takes the mark meanwhile waits
-- for the write and then computes the row with it (with DO NOTHING it could compute the row without the write and
-- drop the mark).
CREATE OR REPLACE FUNCTION received_service_request_stale_event(inbox uuid) RETURNS void LANGUAGE sql AS $$
  INSERT INTO received_service_request_stale (tenant, system, value)
  SELECT tenant, system, value FROM referral_identifier WHERE inbox_id = inbox
  ON CONFLICT (tenant, system, value) DO UPDATE SET tenant = EXCLUDED.tenant
$$;

CREATE OR REPLACE FUNCTION received_service_request_stale_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'referral_identifier' THEN
    PERFORM received_service_request_stale_event(NEW.inbox_id);
    IF TG_OP = 'UPDATE' THEN
      INSERT INTO received_service_request_stale (tenant, system, value) VALUES (OLD.tenant, OLD.system, OLD.value)
      ON CONFLICT (tenant, system, value) DO UPDATE SET tenant = EXCLUDED.tenant;
    END IF;
  ELSIF TG_TABLE_NAME = 'child_disclosure' THEN
    -- A withdrawal notice claimed (or let go of) this disclosure: the referral of its delivery.
    PERFORM received_service_request_stale_event((SELECT inbox_id FROM delivery WHERE id = NEW.delivery_id));
  ELSE
    PERFORM received_service_request_stale_event(NEW.inbox_id);
    IF TG_OP = 'UPDATE' AND OLD.inbox_id <> NEW.inbox_id THEN
      PERFORM received_service_request_stale_event(OLD.inbox_id);
    END IF;
  END IF;
  RETURN NULL;
END $$;

-- Only the writes that change what a row is computed from: a delivery's times (not each attempt's bookkeeping), a
-- status stored, an identifier stored or filled in, a withdrawal notice claiming a delivery's disclosure.
DROP TRIGGER IF EXISTS received_service_request_delivered ON delivery;
CREATE TRIGGER received_service_request_delivered AFTER INSERT ON delivery
  FOR EACH ROW WHEN (NEW.delivered_at IS NOT NULL OR NEW.first_delivered_at IS NOT NULL)
  EXECUTE FUNCTION received_service_request_stale_row();
DROP TRIGGER IF EXISTS received_service_request_redelivered ON delivery;
CREATE TRIGGER received_service_request_redelivered AFTER UPDATE ON delivery
  FOR EACH ROW WHEN (NEW.delivered_at IS DISTINCT FROM OLD.delivered_at
    OR NEW.first_delivered_at IS DISTINCT FROM OLD.first_delivered_at
    OR NEW.destination IS DISTINCT FROM OLD.destination OR NEW.inbox_id IS DISTINCT FROM OLD.inbox_id)
  EXECUTE FUNCTION received_service_request_stale_row();
DROP TRIGGER IF EXISTS received_service_request_status ON feedback;
CREATE TRIGGER received_service_request_status AFTER INSERT OR UPDATE OF inbox_id, status, created_at ON feedback
  FOR EACH ROW EXECUTE FUNCTION received_service_request_stale_row();
DROP TRIGGER IF EXISTS received_service_request_identifier ON referral_identifier;
CREATE TRIGGER received_service_request_identifier
  AFTER INSERT OR UPDATE OF tenant, system, value, service_request_id, patient_id ON referral_identifier
  FOR EACH ROW EXECUTE FUNCTION received_service_request_stale_row();
DROP TRIGGER IF EXISTS received_service_request_withdrawn ON child_disclosure;
CREATE TRIGGER received_service_request_withdrawn AFTER UPDATE OF notice_delivery ON child_disclosure
  FOR EACH ROW WHEN (NEW.notice_delivery IS DISTINCT FROM OLD.notice_delivery)
  EXECUTE FUNCTION received_service_request_stale_row();

-- Every referral received so far is stale: the first start-up computes them (reading `referral_identifier` once here,
-- about a second per million referral events; intake waits meanwhile).
INSERT INTO received_service_request_stale (tenant, system, value)
SELECT DISTINCT tenant, system, value FROM referral_identifier
ON CONFLICT DO NOTHING;
