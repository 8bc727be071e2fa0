-- Every status change of an outbox row wrote a new entry into outbox_due,
-- an index over every row ever queued, and a delivery changes status
-- twice (claimed, then sent). Nothing needs it any more: the claim reads
-- the lanes' partial indexes, an issue's rows are found through
-- outbox_issue, and the oldest due row is the front of a lane. What else
-- read it, the failed rows (`outbox status`, `outbox retry`), gets a
-- partial index that holds only them.
DROP INDEX outbox_due;
CREATE INDEX outbox_failed ON outbox (id) WHERE status = 'failed';
