-- older builds: run beside
-- A delivery the receiver accepted keeps `delivered_at` while an operator's redelivery of it is under way, after that
-- failed (dead), or after the practice's cancellation stopped it: "was it delivered" is `delivered_at IS NOT NULL`.
-- The municipality's received referrals (its console's list, newest first a page at a time by (delivered_at, id))
-- read the delivered ones through 063 and these others through this index: few at any time (the redeliveries of
-- the moment and their dead letters), so it is small and costs writes little. Without it each page read `delivery`
-- whole for them. Building it reads `delivery` once; writes to it wait meanwhile (about a second per million
-- deliveries). Not CONCURRENTLY: the migrations of a start-up run in one transaction, where that is not allowed.
CREATE INDEX IF NOT EXISTS delivery_delivered_before ON delivery (destination, delivered_at, id)
  WHERE state <> 'delivered' AND delivered_at IS NOT NULL;
