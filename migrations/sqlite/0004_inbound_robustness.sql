-- Inbound mail that cannot wedge the pipeline: the raw message is kept once
-- per message (not once per recipient) in inbound_raw; each inbound row
-- counts its handling attempts, backs off between them and is leased while
-- one delivery handles it (the same message arriving twice at once is
-- handled once); the thread lookup over Message-IDs is indexed.
CREATE TABLE inbound_raw (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    size       INTEGER NOT NULL,
    raw        BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
INSERT INTO inbound_raw (id, size, raw, created_at) SELECT id, size, raw, received_at FROM inbound;
ALTER TABLE inbound ADD COLUMN raw_id INTEGER REFERENCES inbound_raw(id);
UPDATE inbound SET raw_id = id;
ALTER TABLE inbound DROP COLUMN raw;
ALTER TABLE inbound ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE inbound ADD COLUMN next_attempt_at INTEGER;
ALTER TABLE inbound ADD COLUMN lease_until INTEGER;
UPDATE inbound SET next_attempt_at = received_at WHERE status = 'received';
CREATE INDEX inbound_due ON inbound (next_attempt_at) WHERE status = 'received';
CREATE INDEX questions_message_id ON questions (list_id, message_id);
CREATE INDEX answers_message_id ON answers (message_id);
