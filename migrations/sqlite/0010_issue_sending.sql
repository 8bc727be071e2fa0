-- Sending an issue: its deliveries are queued in chunks by member id
-- behind a stored cursor (a crash resumes where it stopped), an editor may
-- pause, resume or cancel it, and its counts outlive pruned outbox rows.

-- The last member id queued; expanded_at is set once every member is.
ALTER TABLE digests ADD COLUMN expanded_through INTEGER NOT NULL DEFAULT 0;
ALTER TABLE digests ADD COLUMN expanded_at INTEGER;
-- running, paused or cancelled (an editor's decision on a sent issue).
ALTER TABLE digests ADD COLUMN delivery TEXT NOT NULL DEFAULT 'running';
-- Deliveries folded into counts when their outbox rows are pruned.
ALTER TABLE digests ADD COLUMN archived_sent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE digests ADD COLUMN archived_failed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE digests ADD COLUMN archived_cancelled INTEGER NOT NULL DEFAULT 0;
-- Issues sent before this were expanded in one transaction.
UPDATE digests SET expanded_at = sent_at WHERE status = 'sent';

-- The next chunk of a list's digest members, in member id order.
CREATE INDEX members_list_mode_id ON members (list_id, status, mode, id);
-- One issue's deliveries by status: pause, resume, cancel and counts.
CREATE INDEX outbox_issue ON outbox (ref_id, status) WHERE kind = 'digest';
