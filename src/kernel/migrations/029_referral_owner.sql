-- older builds: run beside
-- One row per referral id of a practice, what makes the two checks at receipt hold when what they check arrives at
-- the same moment (`referralsRefusedAtReceipt`, then the insert). `patient_id`: the child whose referral the id
-- names, claimed by the first `referral.created` stored under it; a second request storing the id for another child
-- at the same moment meets the first one's row on the primary key (waiting for it to commit) and is refused.
-- `ended_count`: how many times a municipality ended the referral (a status whose ServiceRequest status is not
-- `active`), raised in the status's own transaction, with that status and its day; a receipt whose check saw another
-- count than the row holds when it stores the correction meets a status recorded meanwhile and is refused with it.
CREATE TABLE referral_owner (
  tenant text NOT NULL,
  system text NOT NULL,
  value text NOT NULL,
  patient_id uuid,
  ended_count integer NOT NULL DEFAULT 0,
  ended_status text,
  ended_date text,
  PRIMARY KEY (tenant, system, value)
);

-- The referral ids stored before, each with the child of its first referral that names one (none for referrals
-- stored before 024, whose child is unknown: the first one stored with a child claims it). The counts start at 0:
-- only a change of them counts, never their value.
INSERT INTO referral_owner (tenant, system, value, patient_id)
SELECT r.tenant, r.system, r.value,
  (array_agg(r.patient_id ORDER BY i.received_at, i.id) FILTER (WHERE r.patient_id IS NOT NULL))[1]
FROM referral_identifier r JOIN inbox i ON i.id = r.inbox_id AND i.event_type = 'referral.created'
GROUP BY r.tenant, r.system, r.value;
