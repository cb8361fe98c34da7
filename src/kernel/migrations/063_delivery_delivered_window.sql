-- older builds: run beside
-- An operator's redelivery (POST /admin/v1/deliveries/redeliver) asks for what was delivered to one destination
-- from the receiver's restore point on, oldest first, a page at a time by (delivered_at, id). Without an index it read
-- every delivered delivery of every destination for each page; a restore of a week's backup at a busy municipality
-- is tens of thousands of them. This index holds the delivered ones only, by destination, then the window's order.
-- Building it reads `delivery` once; writes to it wait meanwhile (about a second per million deliveries). Not
-- CONCURRENTLY: the migrations of a start-up run in one transaction, where that is not allowed.
CREATE INDEX IF NOT EXISTS delivery_delivered_window ON delivery (destination, delivered_at, id)
  WHERE state = 'delivered';
