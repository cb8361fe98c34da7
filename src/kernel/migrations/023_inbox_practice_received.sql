-- older builds: run beside
-- A practice's events newest first, a page at a time (the console's practice list, keyset on (received_at, id)). No
-- index served that order, so every page read and sorted all of the practice's events, and the list stopped at 200.
-- Reading this index backwards from a page's last row reads one page. Moves between states already write every index
-- of the inbox (their updated_at is in inbox_open's key), so this one adds an entry per move, nothing more.
CREATE INDEX inbox_practice_received ON inbox (tenant, received_at, id);
