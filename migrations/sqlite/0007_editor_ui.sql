-- The editors' web UI: sign-in by email, sessions shared by every process,
-- curation kept apart from the assembled issue, the public archive switch,
-- and which held posts the editors were told about.

-- Editors of every list (`gazette editor add EMAIL --admin`).
CREATE TABLE admins (
    email_key  TEXT PRIMARY KEY,
    email      TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- One-time sign-in links: the mailed token signs (id, nonce); used once,
-- before expires_at.
CREATE TABLE sign_in_links (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    email_key  TEXT NOT NULL,
    email      TEXT NOT NULL,
    nonce      INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);

-- Sign-in requests, per address (`addr:<key>`) and per client (`ip:<addr>`), for the throttle.
CREATE TABLE sign_in_attempts (
    key TEXT NOT NULL,
    at  INTEGER NOT NULL
);
CREATE INDEX sign_in_attempts_key ON sign_in_attempts (key, at);

-- Editor sessions; id is the SHA-256 of the cookie's value, never the value.
CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    email_key  TEXT NOT NULL,
    email      TEXT NOT NULL,
    form_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

-- The editors' decisions about an issue (JSON), applied each time it is
-- assembled; version counts saves, so a stale save is refused.
ALTER TABLE digests ADD COLUMN curation TEXT NOT NULL DEFAULT '{}';
ALTER TABLE digests ADD COLUMN version INTEGER NOT NULL DEFAULT 0;

-- The public archive (`gazette list set ADDRESS --archive public|off`).
ALTER TABLE lists ADD COLUMN archive_public INTEGER NOT NULL DEFAULT 0;

-- Held posts the editors were told about (once each).
CREATE TABLE held_notices (
    inbound_id  INTEGER PRIMARY KEY,
    notified_at INTEGER NOT NULL
);
