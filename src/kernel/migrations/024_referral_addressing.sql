-- older builds: run beside
-- What else a municipality may address a referral by, and whose referral it is. `service_request_id`: jeugdbrug's
-- deterministic id of the referral's ServiceRequest, which every destination format carries (fhir-rest's resource-id
-- identifier, the webhook's `focus`, iSamenleving's `verwijzing.referentie`). `patient_id`: the deterministic id of
-- the child it is about, so that a practice reusing a referral id for another child is refused instead of silently
-- re-pointing the identifier. Both are pseudonymous ids the municipality receives anyway, never a BSN.
ALTER TABLE referral_identifier ADD COLUMN service_request_id uuid, ADD COLUMN patient_id uuid;

-- The rows from before: the ServiceRequest id is `deterministicId(agb, 'ServiceRequest', referral id)`
-- (src/kernel/fhir/ids.ts, SHA-256 in a version 5 layout), computed here the same way. The child's id is inside the
-- encrypted event: it stays unknown for them, and they are not checked for reuse.
UPDATE referral_identifier SET service_request_id = encode(
  set_byte(set_byte(h, 6, (get_byte(h, 6) & 15) | 80), 8, (get_byte(h, 8) & 63) | 128), 'hex')::uuid
FROM (SELECT inbox_id AS id, substring(sha256(convert_to(tenant || chr(31) || 'ServiceRequest' || chr(31) || value,
  'UTF8')) FROM 1 FOR 16) AS h FROM referral_identifier) AS computed
WHERE computed.id = referral_identifier.inbox_id;

CREATE INDEX referral_identifier_service_request ON referral_identifier (service_request_id);

-- A status update's details without its date (SHA-256 of their canonical JSON): the same status with the same day and
-- the same details as the current one is a repeat, answered 200 with the one recorded and not sent to the practice
-- again. NULL for updates stored before: they are never taken for a repeat.
ALTER TABLE feedback ADD COLUMN details_digest text;
