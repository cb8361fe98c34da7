-- older builds: run beside
-- What a municipality's status on a referral needs once retention has removed the referral's content: the child's
-- BSN, the referral's identifier, its ServiceRequest id, the day it was written and the child's municipality
-- (`ReferralIdentity`, src/event/feedback.ts), encrypted like the payload. Retention writes it just before it clears
-- the payload of a finished `referral.created` event and clears it REFERRAL_IDENTITY_RETENTION_DAYS after the event
-- was received: a decision (beschikking) and the end of care come weeks to months after the referral, later than the
-- payload's 30 days. Catalog change only, no rewrite and no index: the daily
-- retention run finds the identities to clear by a scan, as it finds the payloads.
ALTER TABLE inbox ADD COLUMN referral_identity bytea, ADD COLUMN referral_identity_key_id text;

