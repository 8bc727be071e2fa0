-- The claim reads only claimable rows, in the order it takes them: two
-- partial indexes hold just the queued rows, one per lane (notices apart
-- from bulk mail, so a confirmation never waits behind a digest), ordered
-- as the claim orders. A claim walks the front of one and stops after the
-- batch, however long the queue. Rows leave these indexes when claimed, so
-- they stay as small as what is waiting.
CREATE INDEX outbox_queued_notice ON outbox (next_attempt_at, id) WHERE status = 'queued' AND kind = 'notice';
CREATE INDEX outbox_queued_bulk ON outbox (next_attempt_at, id) WHERE status = 'queued' AND kind <> 'notice';
-- Leased rows, by lease end: the sweep that hands back the rows of a dead
-- worker reads only the expired front of this (at most workers x batch rows).
CREATE INDEX outbox_leased ON outbox (lease_until) WHERE status = 'sending';
