//! What mail servers write for each failure reason: phrases matched as
//! substrings of the lowercased diagnostic with whitespace squeezed. A `*`
//! inside a phrase stands for any text between its parts, in order
//! ("mailbox * full" matches "mailbox of kijitora is full").
//!
//! The phrases are the wording MTAs and providers use (RFC 3463 texts,
//! Postfix, Sendmail, Exim, qmail, Exchange, Gmail, Yahoo, AOL, …), kept
//! narrow on purpose: a broad word ("blocked", "denied") says little about
//! the cause, and the status code decides when no phrase does.

use aho_corasick::{AhoCorasick, AhoCorasickKind};
use std::sync::LazyLock;

/// `(reason, phrases)`; the reason names are Sisimai's.
#[rustfmt::skip]
const TABLE: &[(&str, &[&str])] = &[
    ("mailboxfull", &[
        "mailbox full", "mailbox is full", "mailbox was full", "mailbox * full", "full mailbox", "mail box full",
        "box is full", "inbox is full", "mailfolder is full", "account is full", "quota exceeded",
        "quota * exceeded", "over quota", "overquota", "over * quota", "exceeded * quota", "exceeds * quota",
        "exceed * quota", "mailbox * quota", "maildir * quota", "disk * quota", "account is * quota",
        "quota violation", "quota full", "mailbox size limit exceeded", "mailbox * exceeded * limit",
        "mailbox exceeds allowed size", "mailbox would exceed", "exceeded storage allocation", "not sufficient disk space", "not enough disk space", "enough * space",
        "no space left on device", "too much mail data", "too many messages on the server",
        "space has been used up", "boite du destinataire pleine", "mailbox is over",
        "mailbox has exceeded", "mailbox size limit", "exceeded quota", "exceeds quota", "exceed quota", "quota limit",
        "mailbox quota", "disk quota", "storage quota", "insufficient storage", "not enough storage", "mailbox exceeds",
        "exceeded storage", "storage allocation", "would exceed", "too much mail", "user has exceeded", "maildir over",
    ]),
    ("mesgtoobig", &[
        "message too big", "message is too big", "message file too big", "message too large for",
        "message size exceeds", "message length exceeds", "exceeded maximum inbound message size",
        "exceeded the maximum incoming message size", "max message size exceeded", "size limit",
        "line limit exceeded", "taille limite du message atteinte", "message is too large",
        "message too large", "exceeds the maximum size", "message size limit", "exceeded maximum message size", "size exceeds",
    ]),
    ("exceedlimit", &["message header size exceeds limit", "message too large"]),
    ("suspend", &[
        "is currently suspended", "has been suspended", "mailbox currently suspended",
        "user suspended", "recipient suspend", "temporary locked", "temporarily locked", "account is locked",
        "inactive account", "account inactive", "mailbox is inactive", "mailbox inactive", "is inactive",
        "invalid/inactive user", "temporarily inactive", "is a deactivated mailbox", "deactivated",
        "mailbox disabled", "mailbox is disabled", "this mailbox is disabled", "account disabled",
        "account has been disabled", "disabled or discontinued", "user or domain is disabled",
        "account that you tried to reach is disabled", "mailbox is frozen", "archived recipient",
        "boite du destinataire archivee", "user is terminated", "mailbox unavailable or access denied",
        "this address no longer accepts mail",
        "is disabled", "has been disabled", "account locked", "is locked", "been locked",
        "account expired", "temporarily disabled", "discontinued", "frozen", "is not active", "not active",
        "has been closed", "blocked due to inactivity",
        "account * suspended", "mailbox * suspended", "recipient account is blocked",
    ]),
    ("hasmoved", &["address has been changed", "address has changed", "mailbox has moved", "has moved",
        "no longer available at this address",
    ]),
    ("norelaying", &[
        "relay access denied", "relaying denied", "relay denied", "relay not permitted", "relaying not allowed",
        "relay prohibited", "no relaying", "not permitted to relay", "not allowed to relay", "unable to relay",
        "we do not relay", "as a relay", "insecure mail relay", "not an open relay", "relaying mail to",
        "not configured to relay", "that domain isn't in my list of allowed rcpthost", "not a gateway",
        "not local host", "we don't handle mail for", "specified domain is not allowed",
        "requires authentication when attempting to send to a non-local",
        "relay not allowed", "relaying to",
        "email address is not verified",
    ]),
    ("authfailure", &[
        "dmarc policy", "dmarc", "spf check: fail", "sender policy framework", "bad spf records",
        "spf (sender policy framework)", "please inspect your spf settings", "spf.pobox.com",
        "per it's spf record", "doesn't meet the required authentication level",
        "doesn't meet the authentication requirements", "unauthenticated email", "spf fail",
        "spf validation", "not allowed to send from <", "authentication failure", "authentication checks failed", "sender authentication", "authentication check failed",
        "fails to pass authentication checks", "does not have authentication information",
    ]),
    ("userunknown", &[
        "user unknown", "unknown user", "user is unknown", "user not known", "no such user", "no such mailbox",
        "no such recipient", "no such person", "no such address", "no mailbox here by that name",
        "no mailbox by that name", "no mailbox found", "no mail box available for this user",
        "no account by that name", "recipient unknown", "unknown recipient", "invalid recipient",
        "recipient not found", "recipient does not exist", "recipient not exist", "recipient is not local",
        "recipient is not accepted", "recipient not ok", "not a valid recipient", "mailbox not found",
        "mailbox does not exist", "mailbox not present", "mailbox unavailable", "mailbox is unavailable",
        "mailbox unavaiable", "mailbox invalid", "invalid mailbox", "unknown mailbox", "not a valid mailbox",
        "user not found", "user does not exist", "user doesn't exist", "user not exist", "user not active",
        "user missing home directory", "address does not exist", "address unknown", "addressee unknown",
        "address not present in directory", "invalid address", "address invalid", "bad address",
        "unknown address", "email address could not be found", "address is not valid", "not a valid address", "account does not exist",
        "tried to reach does not exist", "is not a known user", "not a valid user", "not a local address",
        "this user doesn't have a", "doesn't have a * account", "there is no one at this address",
        "is not an active address", "destination addresses were unknown",
        "destination server rejected recipients", "following recipients was undeliverable",
        "email name is not found", "badrcptto", "validrcptto", "badrecipientto", "can't accept user",
        "envelope recipient has been denied", "recipient address rejected: access denied",
        "recipient address rejected: invalid user", "recipient address rejected: invalid-recipient",
        "recipient address rejected: unknown user", "recipient address rejected: userunknown",
        "recipient address rejected. (in reply to rcpt to command)", "requested action not taken: mailbox unavailable",
        "resolver.adr.recipientnotfound", "resolver.adr.recipient notfound", "not in name directory",
        "non-existent user", "nonexistent user", "unknown local part", "unknown local-part", "unknown e-mail address",
        "unknown email address", "no longer valid", "utilisateur inconnu", "no existe", "nessun utente",
        "adresse nicht gefunden", "does not exist at the organization", "was not found in", "> not found",
        "unknown or illegal", "illegal user", "does not exist.", "vdeliver: invalid or unknown virtual user",
        "5.1.0 address rejected", "#5.1.1 bad address", "550 address invalid",
        "no such account", "no such local user", "recipient invalid", "mailbox name not allowed", "doesn't have a", "does not have an account",
        "address wasn't found", "address was not found", "address not found", "not listed in", "no valid recipients", "bad destination mailbox",
        "not our customer", "unknown account", "undeliverable address", "not a known user", "invalid user", "delivery userid",
        "invalid userid", "check if address is correct", "user invalid",
    ]),
    ("filtered", &[
        "message filtered", "user reject", "user refuses to receive", "refuses to accept your mail",
        "refused due to recipient preferences", "recipient preferences", "blocked by the recipient",
        "you have been blocked by", "is only accepting mail from", "not accepting any mail", "bounced address",
        "account is protected by", "message rejected due to user rules", "refuse to receive mail",
        "has restricted sms e-mail", "not found recipient account",
        "filtered", "refuses to accept", "refused by recipient", "recipient's filter",
        "denied by the recipient", "the recipient has blocked", "user has blocked",
    ]),
    ("requireptr", &[
        "ptr record", "cannot find your hostname", "can't find your hostname",
        "cannot resolve your address", "ip name lookup failed", "unresolvable relay host name",
        "reverse lookup rejected", "sender ip reverse lookup", "generic dns ptr",
        "forward dns entry does not point to the sending ip", "mismatches client ip",
        "unverifyable sending ips", "dns lookup failure: * try again later", "no ptr", "ptr lookup", "cannot resolve your", "ip name lookup", "hostname does not resolve",
        "reverse dns failed", "reverse dns required", "fix reverse dns", "reverse dns entry", "invalid rdns",
        "no reverse dns",
        "bad dns ptr resource record", "reverse dns lookup for host * failed",
    ]),
    ("notcompliantrfc", &[
        "duplicate header", "not rfc 5322 compliant", "rfc 5322", "rfc5322", "rfcmessagenoncompliant",
        " multiple * header", "multiple from", "bare lf",
        "rfc 2822", "rfc2822", "rfc 822", "rfc822 compliant", "not compliant", "multiple addresses in from",
        "bare line feed", "message-id header",
    ]),
    ("badreputation", &[
        "poor email reputation", "ip reputation", "domain reputation", "reputation problems",
        "very low reputation", "bad reputation", "poor reputation", "sending mta's poor reputation",
        "unexpected volume or user complaints",
        "reputation",
    ]),
    ("contenterror", &[
        "duplicate header", "header size exceeds", "improper use of 8-bit data", "8-bit data in message header",
        "mime complexity", "too many received: headers", "invalid mime headers", "improperly-formatted binary",
        "unnecessary base64 encoding", "recipient list, exceeds policy limit",
        "content error", "improper use of 8-bit", "8-bit data",
    ]),
    ("rejected", &[
        "sender rejected", "sender was rejected", "sender address rejected", "sender email address rejected",
        "sender verify failed", "domain of sender address", "invalid sender", "sender is in my black list",
        "sender is spammer", "sender not pre-approved", "sender domain is empty", "bogus mail from",
        "null sender is not allowed", "empty envelope senders not allowed", "mail from not owned by user",
        "address rejected", "administrative prohibition", "batv", "backscatter", "no third-party dsns",
        "unsigned dsn", "returned mail not accepted here", "not a registered gateway user",
        "delivery not authorized, message refused", "this server does not accept mail from",
        "sender address has been blacklisted", "email address has been blacklisted",
        "sending to/from an address that has been blacklisted", "your access to submit messages",
        "not allowed to post to this mailing list", "unroutable sender address", "fully qualified email address required",
        "emetteur invalide", "envelope blocked", "access denied (in reply to mail from command)",
        "access denied (sender blacklisted)", "can't determine purported responsible address",
        "without a valid sender domain", "from: domain is invalid",
        "senderfilterconfig", "rule imposed mailbox access", "mx records for ",
        "syntax error: empty email address", "not on the recipient's list of senders",
        "recursive cname records", "denied [bouncedeny]", "valid-address-filter",
        "sending this from a different address or alias", "recipient addresses rejected : access denied", "spam reporting address",
        "sender denied", "may not have permission", "not have permission to post", "not a member of", "groups.google.com",
    ]),
    ("hostunknown", &[
        "host unknown", "unknown host", "host or domain name not found", "domain does not exist",
        "domain is not reachable", "domain must exist", "no such domain", "unknown domain name",
        "unrouteable address", "unroutable address", "host unreachable", "name or service not known",
        "mail domain mentioned in email address is unknown", "the account or domain may not exist",
        "553 * does not exist", "domain not found", "unknown mail domain",
        "host not found", "unknown domain", "invalid domain", "domain name not found", "name service error", "unrouteable",
        "unroutable", "nxdomain", "bad destination system", "domain doesn't exist", "not a valid domain", "domain unknown",
        "lookup failure: host",
    ]),
    ("spamdetected", &[
        "spam detected", "detected as spam", "as spam", "is spam", "be spam", "spam message", "spam content",
        "spam filter", "considered spam", "- spam", "(spam)", "spam blocked", "spam refused", "spam rejection",
        "spam not accepted", "spam check", "spam email", "spamassassin", "spambouncer", "no spam",
        "block for spam", "spam list", "spam or virus", "spam/virus", "too much spam", "spam complaints",
        "likely spam", "probable spam", "spam-like", "spam similar", "similar to spam", "unsolicited", "bulk mail", "bulk e-mail", "bulk email", "content filter rejection",
        "message content rejected", "rejecting mail content", "rejecting banned content", "mail content denied",
        "unacceptable content", "spam-like", "blacklisted url", "uribl", "recurrent pattern detection",
        "message filtered. ", "spamprofiler", "identified this email as a bulk",
        "our system has detected that this message is", "looks like spam", "appears to be spam",
        "greylisted * please try again in", "mail score (* over ", "spam points", "spam score",
        "reject bulk.advertising", "rejected due to spam", "mail rejete. mail rejected. * 506",
        "junk mail", "content filter", "suspicious", "phishing",
        "message rejected for policy reasons", "spamming not allowed",
    ]),
    ("speeding", &[
        "temporarily rate limited", "please try again slower", "receiving mail at a rate", "too many messages in this connection", "too many messages", "too fast",
        "too many recipients this", "sent to too many recipients",
    ]),
    ("toomanyconn", &[
        "too many connections", "too many concurrent", "connection limit", "too many smtp sessions",
        "too many errors from your ip", "too many recipients", "max emails per hour", "maximum sending rate exceeded",
        "daily message quota exceeded", "trop de connexions", "already made numerous attempts",
        "all available ips are at maximum",
        "too many sessions", "too many simultaneous",
        "frequency limited",
        "connection rate limit exceeded",
    ]),
    ("blocked", &[
        "blacklisted by", "blocked using", "blocked - see http", "refused - see http", "is in a black list",
        "your ip address is listed", "listed in the rbl", "spamhaus xbl", "listed in spamhaus",
        "spamcop.net/bl", "abuseat.org", "dnsbl", "rbl on", "multi-blacklist", "barracudacentral.org",
        "dynamic ip", "dynamic/zombied", "hosts with dynamic ip", "bad sender ip address", "banned sending ip",
        "sender ip address rejected", "invalid ip for sending mail", "not currently accepting mail from your ip",
        "too many spams from your ip", "too many unwanted messages have been sent from the following ip",
        "please use the smtp server of your isp", "rejecting open proxy", "client host rejected",
        "helo command rejected", "host network not allowed", "no access from mail server",
        "you are not allowed to connect", "your network is temporary blacklisted", "your access ip",
        "access from ip address * blocked", "mail server at * is blocked", "server ip * listed as abusive",
        "message from * rejected based on blacklist", "connection refused by", "connection reset by peer",
        "connection dropped", "connection was dropped by remote host", "esmtp not accepting connections",
        "service not available, closing transmission channel", "go away", "you are sending spam",
        "currently sending spam", "extreme bad ip profile", "sorry, your remotehost looks suspiciously like spammer",
        "after initial connection", "is not allowed to send mail from", "your server requires confirmation",
        "confirm this mail server", "part of their network is on our block list", "was blocked by ",
        "temporarily deferred due to user complaints", "domain does not exist:", "no valid recipients from",
        "may not be mail exchanger", "was not authenticated", "has not passed validation", "said: 550 blocked",
        "is blacklisted", "your ip", "ip address is blocked", "mail from * refused",
        "my name was rejected", "invalid ip", "blacklisted", "blocklisted", "spamhaus", "spamcop",
        "client host blocked", "service refused, please try later",
    ]),
    ("virusdetected", &[
        "virus detected", "infected with a virus", "contains prohibited virus", "potentially executable attachment",
        "used by recent viruses", "malicious_url detected", "virus found", "contains a virus",
        "virus", "malware", "infected",
    ]),
    ("policyviolation", &[ "denied by policy", "for policy reasons", "due to local policy",
        "rejected by organization policy", "organizational settings", "due to security policies",
        "closed mailing list", "members-only list", "illegal attachment", "not accepting mail with",
        "header are not accepted", "header error", "protocol violation", "messages with multiple addresses",
        "message given low priority", "using a mass mailer", "not subscribed to this group",
        "content presents a potential", "images or other attachments", "captcha",
        "local policy violation",
    ]),
    ("systemerror", &[
        "system error", "internal error", "server error", "local error in processing", "local configuration error",
        "configuration error", "system config error", "misconfigured", "temporary local problem",
        "queue file write error", "interrupted system call", "service currently unavailable",
        "timeout waiting for input", "transaction failed ", "forwarding loop broken", "create a mail loop",
        "loop was found in the mail exchanger", "loops back to myself", "encountered an error while being processed",
        "can't create user output file", "could not load drd", "no mdb", "unable to connect * daemon",
        "local error", "misconfigur",
        "local configuration", "i/o error", "transaction failed", "could not load",
    ]),
    ("networkerror", &[
        "could not connect and send", "dns records for the destination computer could not be found",
        "hop count exceeded", "host is unreachable", "host name lookup failure", "host not found, try again",
        "mail forwarding loop", "malformed name server reply", "malformed or unexpected name server reply",
        "forwarding loop count exceeded", "message looping", "message is looping", "routing loop", "no route to host", "too many hops",
        "unable to resolve route", "unrouteable mail domain", "temporary failure in name resolution",
        "network error",
        "connection refused", "network is unreachable", "connection reset", "lost connection",
        "connection closed", "host lookup did not complete", "not responding", "mail loop", "loops back", "hop count",
        "dns error", "wasn't able to establish an smtp connection",
    ]),
    ("systemfull", &["mail system full", "exceeded storage allocation", "insufficient system storage",
        "disk full", "system storage", "out of disk", "no space left", "insufficient disk",
    ]),
    ("notaccept", &[
        "does not accept mail", "accepts no mail", "mail receiving disabled", "null mx",
        "no mx record found", "no mx found", "no route for current request", "smtp protocol returned a permanent error",
        "couldn't find a mail exchanger", "could not find a mail exchanger",
        "not accepting mail", "nullmx", "no mail is accepted", "no smtp service", "doesn't receive email", "does not receive email",
        "not accepting network messages",
        "name server: .: host not found",
    ]),
    ("expired", &[
        "connection timed out", "could not find a gateway", "delivery attempts will continue", "delivery expired",
        "delivery time expired", "failed to deliver to domain", "giving up on", "gave up", "have been failing",
        "has been delayed", "not been collected after", "expired after sitting in queue", "message expired",
        "message timed out", "retry time not reached", "retry timeout exceeded", "server did not respond",
        "in the queue too long", "after multiple retries", "within the allowed queue period",
        "could not be delivered for more than", "could not be delivered for * days", "envelope expired",
        "retry timeout", "retry time", "expired", "timeout exceeded", "delivery time", "too long in",
        "not yet been delivered", "given up", "queue too long", "maximum time", "was not delivered within", "could not be delivered for",
        "delivery attempts", "timed out", "did not accept our requests to connect", "could not deliver for the last", "will continue trying", "unable to deliver this message after",
        "delivery failed * attempts",
    ]),
    ("failedstarttls", &["starttls", "tls negotiation", "tls handshake", "requiretls", "must issue a starttls",
        "ssl handshake",
    ]),
    ("securityerror", &[
        "authentication credentials invalid", "authentication failure", "authentication required",
        "authentication turned on in your email client", "executable files are not allowed",
        "unauthenticated senders not allowed", "verification failure", "authentication is required",
        "not subscribed to ses", "not authorized to perform ses", "is a dead domain", "authentication failed; server",
        "you don't authenticate",
        "tls required", "encryption required", "must authenticate", "authorization required",
        "turn on smtp authentication",
    ]),
    ("suppressed", &["suppression list", "on the suppression list"]),
    ("mailererror", &[
        " || exit ", "procmail: ", "bin/procmail", "bin/maildrop", "command failed: ", "command died with status",
        "command output:", "mailer error", "pipe to |/", "x-unix; ",
        "command died", "exit code", "exited with", "pipe to", "procmail", "command output",
    ]),
    ("syntaxerror", &[
        "malformed address", "not implemented", "syntax error", "command unrecognized", "command not recognized", "unrecognized command",
        "line too long",
    ]),
];

/// Broad words, consulted only when nothing specific decided: "Recipient
/// address rejected: Media error" with 5.6.0 is a content error, not an
/// unknown user, but a bare "blocked" with nothing else says something.
#[rustfmt::skip]
const VAGUE: &[(&str, &[&str])] = &[
    ("rejected", &[
        "sender unknown", "bad sender", "invalid sender", "sender is not", "sender domain", "envelope sender",
        "sender address", "senders address", "your address", "rejected the sender", "sender not",
    ]),
    ("mesgtoobig", &[
        "size limit", "too large", "message exceeds", "mail size",
    ]),
    ("userunknown", &[
        "recipient address rejected", "recipient is not", "not exist", "does not exist", "no longer", "cannot be found",
        "could not be found", "not found", "no account", "no mailbox", "no user",
    ]),
    ("blocked", &[
        "blocked", "blacklist", "blocklist", "block list", "black list", "denylist",
        "rbl", "listed", "banned", "your ip", "ip address", "your host",
        "client host", "dynamic ip", "dial-up", "dialup", "residential", "your isp",
        "access denied", "not allowed to send", "helo", "ehlo", "rejected because", "after initial connection",
    ]),
    ("policyviolation", &[
        "policy", "violat", "prohibited", "not permitted", "not allowed", "restricted",
    ]),
    ("networkerror", &[
        "dns", "name server", "nameserver", "no answer",
    ]),
];

/// Signals the procedure reads besides the reasons themselves, named in
/// words: they are found in the same pass.
#[rustfmt::skip]
const SIGNALS: &[(&str, &[&str])] = &[
    // A null MX (RFC 7505) is final, whatever else the report says.
    ("nullmx", &[
        "null mx", "nullmx", "does not accept mail", "doesn't receive email", "does not receive email",
        "accepts no mail",
    ]),
    // What providers document as "no such recipient" whatever the command:
    // Exchange's resolver codes, Yahoo's "dd" refusal.
    ("decisive userunknown", &[
        "resolver.adr.recipientnotfound", "resolver.adr.exrecipnotfound",
        "recipient not found by smtp address lookup", "delivery error: dd this user doesn't have",
    ]),
    // Refusal words that concern a recipient, not the sender.
    ("about a recipient", &[
        "recipient address rejected", "5.1.0 address rejected", "sender ip address rejected",
    ]),
    ("access denied", &["access denied"]),
];

/// Every phrase of [`TABLE`] and [`VAGUE`] split at its wildcards, in one
/// Aho-Corasick automaton, so a diagnostic is read once however many
/// phrases there are.
struct Index {
    automaton: AhoCorasick,
    /// `(vague, reason, parts)`: `parts` are pattern ids in the order
    /// they must occur.
    phrases: Vec<(bool, &'static str, Vec<usize>)>,
    /// The phrases each pattern opens.
    opened_by: Vec<Vec<usize>>,
    /// The length of each pattern.
    lengths: Vec<usize>,
}

static INDEX: LazyLock<Index> = LazyLock::new(|| {
    let mut patterns: Vec<&'static str> = Vec::new();
    let mut phrases = Vec::new();
    for (vague, rows) in [(false, TABLE), (false, SIGNALS), (true, VAGUE)] {
        for (reason, list) in rows {
            for phrase in list.iter() {
                let parts: Vec<usize> = split(phrase)
                    .into_iter()
                    .map(|part| match patterns.iter().position(|p| *p == part) {
                        Some(id) => id,
                        None => {
                            patterns.push(part);
                            patterns.len() - 1
                        }
                    })
                    .collect();
                phrases.push((vague, *reason, parts));
            }
        }
    }
    let mut opened_by = vec![Vec::new(); patterns.len()];
    for (i, (_, _, parts)) in phrases.iter().enumerate() {
        opened_by[parts[0]].push(i);
    }
    // A contiguous NFA, not a DFA: building a DFA of these phrases takes
    // ~10 ms, paid by every one-shot `gazette ingest` or `inspect`, for
    // about 3% more throughput in a long run.
    let automaton = AhoCorasick::builder()
        .kind(Some(AhoCorasickKind::ContiguousNFA))
        .build(&patterns)
        .expect("phrase automaton");
    Index {
        automaton,
        phrases,
        opened_by,
        lengths: patterns.iter().map(|p| p.len()).collect(),
    }
});

/// A phrase's parts, the spaces around each `*` belonging to it:
/// "mailbox * full" is "mailbox" then "full".
fn split(phrase: &'static str) -> Vec<&'static str> {
    let parts: Vec<&str> = phrase.split('*').collect();
    let last = parts.len() - 1;
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| match (i == 0, i == last) {
            (true, true) => *part,
            (true, false) => part.trim_end(),
            (false, true) => part.trim_start(),
            (false, false) => part.trim(),
        })
        .collect()
}

/// The reasons one text names, found in a single pass.
pub struct Hits {
    /// Reasons a specific phrase names.
    said: Vec<&'static str>,
    /// The reason of the first broad phrase found, in table order.
    vague: Option<&'static str>,
}

impl Hits {
    /// Reads `text` (lowercased, whitespace squeezed) once.
    pub fn of(text: &str) -> Hits {
        let index = &*INDEX;
        // (pattern, start), sorted: each pattern's places in order, so a
        // phrase's next part is a binary search away, and a word found
        // many times opens its phrases once.
        let mut found: Vec<(usize, usize)> = index
            .automaton
            .find_overlapping_iter(text)
            .map(|m| (m.pattern().as_usize(), m.start()))
            .collect();
        found.sort_unstable();
        let mut said = Vec::new();
        let mut vague: Option<usize> = None;
        let mut last = None;
        for &(pattern, _) in &found {
            if last == Some(pattern) {
                continue;
            }
            last = Some(pattern);
            for &phrase in &index.opened_by[pattern] {
                let (is_vague, reason, parts) = &index.phrases[phrase];
                if !has(&found, parts) {
                    continue;
                }
                if *is_vague {
                    vague = Some(vague.map_or(phrase, |v| v.min(phrase)));
                } else if !said.contains(reason) {
                    said.push(*reason);
                }
            }
        }
        Hits {
            said,
            vague: vague.map(|v| index.phrases[v].1),
        }
    }

    /// Whether the text says `reason` in one of its specific phrases.
    pub fn says(&self, reason: &str) -> bool {
        self.said.contains(&reason)
    }

    /// The first reason whose broad words the text contains.
    pub fn vaguely(&self) -> Option<&'static str> {
        self.vague
    }
}

/// Whether the parts occur in order, each after the end of the last.
/// `found` is sorted by pattern, then place.
fn has(found: &[(usize, usize)], parts: &[usize]) -> bool {
    let mut from = 0;
    for &id in parts {
        let at = found.partition_point(|&f| f < (id, from));
        match found.get(at) {
            Some(&(p, start)) if p == id => from = start + INDEX.lengths[id],
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn says(reason: &str, text: &str) -> bool {
        Hits::of(text).says(reason)
    }

    #[test]
    fn wildcards_keep_order() {
        assert!(says("mailboxfull", "550 mailbox of kijitora is full"));
        assert!(!says("mailboxfull", "full stop. mailbox"));
        assert!(says("userunknown", "550 5.1.1 user unknown"));
    }
}
