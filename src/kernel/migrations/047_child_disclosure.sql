-- older builds: run beside
-- What a municipality received about a child, one row per delivered event of a child (withdrawal-notice.ts): when a
-- consent event later withdraws or objects to what was shared, the consent finds the child's disclosures by the
-- child's key (report-pseudonym.ts `inboxChildKey`: a keyed hash per practice, no BSN) and tells each municipality
-- that holds them (GDPR art. 7(3), 19). Kept beside the event rather than in it: the event's content and its
-- child_key go with the payload retention, while the municipality keeps what it received. `resources` are the
-- references as sent (jeugdbrug's deterministic ids, as the disclosure's AuditEvent names them); `referral_system`
-- and `referral_value` the referral's business identifier the municipality sends status back with. No clinical text.
-- `notice_delivery`: the delivery of the withdrawal notice that told the municipality; NULL while it was not told.
CREATE TABLE IF NOT EXISTS child_disclosure (
  delivery_id uuid PRIMARY KEY REFERENCES delivery (id),
  tenant text NOT NULL,
  child_key text NOT NULL,
  destination text NOT NULL,
  municipality text NOT NULL,
  purpose text NOT NULL,
  data_classes text[] NOT NULL,
  resources text[] NOT NULL,
  referral_system text,
  referral_value text,
  disclosed_at timestamptz NOT NULL DEFAULT now(),
  notice_delivery uuid
);
CREATE INDEX IF NOT EXISTS child_disclosure_unnoticed ON child_disclosure (tenant, child_key)
  WHERE notice_delivery IS NULL;
CREATE INDEX IF NOT EXISTS child_disclosure_notice ON child_disclosure (notice_delivery)
  WHERE notice_delivery IS NOT NULL;
