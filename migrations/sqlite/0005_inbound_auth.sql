-- Who sent each inbound message, decided when it arrived
-- (src/inbound/auth): verdict 'pass', 'fail' or 'unchecked'; for a pass,
-- the method (dkim, spf, dmarc) and the domain that passed, aligned with
-- the From domain; source 'gazette' (its own DKIM/SPF/DMARC checks), the
-- authserv-id of a trusted MTA's Authentication-Results, or ''; detail
-- holds the individual results or why it did not pass.
CREATE TABLE inbound_auth (
    inbound_id  INTEGER PRIMARY KEY,
    verdict     TEXT NOT NULL,
    method      TEXT NOT NULL DEFAULT '',
    domain      TEXT NOT NULL DEFAULT '',
    source      TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT '',
    checked_at  INTEGER NOT NULL
);
