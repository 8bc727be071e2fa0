-- gazette core schema (SQLite). Times are epoch milliseconds, booleans are 0/1.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE lists (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    address          TEXT NOT NULL UNIQUE,
    name             TEXT NOT NULL,
    schedule         TEXT NOT NULL,
    timezone         TEXT NOT NULL,
    require_approval INTEGER NOT NULL DEFAULT 0,
    next_digest_at   INTEGER,
    created_at       INTEGER NOT NULL
);

CREATE TABLE members (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    list_id         INTEGER NOT NULL REFERENCES lists(id),
    email           TEXT NOT NULL,
    email_key       TEXT NOT NULL,
    name            TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL,
    mode            TEXT NOT NULL DEFAULT 'digest',
    bounce_score    INTEGER NOT NULL DEFAULT 0,
    -- Bounce points go stale: a bounce long after the last starts over (Mailman's rule).
    last_bounce_at  INTEGER,
    requested_at    INTEGER NOT NULL,
    confirmed_at    INTEGER,
    left_at         INTEGER,
    UNIQUE (list_id, email_key)
);
CREATE INDEX members_list_status ON members (list_id, status, mode);

CREATE TABLE editors (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    list_id    INTEGER NOT NULL REFERENCES lists(id),
    email      TEXT NOT NULL,
    email_key  TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (list_id, email_key)
);

CREATE TABLE inbound (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    dedupe_key   TEXT NOT NULL UNIQUE,
    message_id   TEXT,
    transport    TEXT NOT NULL,
    mail_from    TEXT,
    rcpt_to      TEXT NOT NULL,
    from_addr    TEXT,
    subject      TEXT,
    size         INTEGER NOT NULL,
    raw          BLOB NOT NULL,
    received_at  INTEGER NOT NULL,
    list_id      INTEGER,
    kind         TEXT NOT NULL DEFAULT 'unknown',
    status       TEXT NOT NULL DEFAULT 'received',
    reason       TEXT NOT NULL DEFAULT '',
    handled_at   INTEGER
);
CREATE INDEX inbound_status ON inbound (status, received_at);

CREATE TABLE questions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    list_id     INTEGER NOT NULL REFERENCES lists(id),
    member_id   INTEGER NOT NULL REFERENCES members(id),
    inbound_id  INTEGER UNIQUE,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    -- The sent issue that first carried it; NULL while no digest has.
    digest_id   INTEGER
);
CREATE INDEX questions_list_created ON questions (list_id, created_at);

CREATE TABLE answers (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    question_id INTEGER NOT NULL REFERENCES questions(id),
    member_id   INTEGER NOT NULL REFERENCES members(id),
    inbound_id  INTEGER UNIQUE,
    body        TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    digest_id   INTEGER
);
CREATE INDEX answers_question ON answers (question_id, created_at);
CREATE INDEX questions_undigested ON questions (list_id, digest_id);
CREATE INDEX answers_undigested ON answers (digest_id, question_id);

CREATE TABLE digests (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    list_id      INTEGER NOT NULL REFERENCES lists(id),
    number       INTEGER NOT NULL,
    status       TEXT NOT NULL,
    subject      TEXT NOT NULL DEFAULT '',
    intro        TEXT NOT NULL DEFAULT '',
    since        INTEGER NOT NULL,
    until_at     INTEGER,
    content      TEXT NOT NULL DEFAULT '[]',
    created_at   INTEGER NOT NULL,
    approved_at  INTEGER,
    due_at       INTEGER,
    sent_at      INTEGER,
    recipients   INTEGER NOT NULL DEFAULT 0,
    -- When editors were told this issue is ready for review.
    notified_at  INTEGER,
    UNIQUE (list_id, number)
);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    dedupe_key      TEXT NOT NULL UNIQUE,
    list_id         INTEGER NOT NULL,
    member_id       INTEGER,
    recipient       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    ref_id          INTEGER,
    payload         TEXT NOT NULL DEFAULT '{}',
    status          TEXT NOT NULL DEFAULT 'queued',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    -- Temporary failures are retried until retry_since + retry_for; `outbox retry` resets it.
    retry_since     INTEGER NOT NULL,
    lease_until     INTEGER,
    lease_owner     TEXT,
    last_reply      TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

CREATE TABLE notice_throttle (
    list_id   INTEGER NOT NULL,
    address   TEXT NOT NULL,
    kind      TEXT NOT NULL,
    sent_at   INTEGER NOT NULL,
    PRIMARY KEY (list_id, address, kind)
);

CREATE TABLE bounces (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    inbound_id  INTEGER NOT NULL,
    member_id   INTEGER,
    outbox_id   INTEGER,
    hard        INTEGER NOT NULL,
    status      TEXT NOT NULL DEFAULT '',
    diagnostic  TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    UNIQUE (inbound_id, member_id)
);
