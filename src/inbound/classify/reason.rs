//! Why a delivery failed, in Sisimai's taxonomy (userunknown, mailboxfull,
//! expired, blocked, ...), from the diagnostic text first and the enhanced
//! status code second: MTAs put generic codes (`5.0.0`, `5.5.0`) on very
//! specific failures, and specific codes on generic text far less often.
//!
//! Only the four "hard" reasons say the *address* is bad and should stop
//! receiving mail at once; everything else is scored as a soft bounce.

use super::text::squeeze_lower;
use super::DsnAction;

/// Reasons whose phrases are checked in this order; earlier rows win, so
/// specific causes come before the broad ones that often share a sentence
/// with them ("Recipient address rejected: mailbox full" is about the box,
/// "Domain of sender address does not exist" about the sender).
#[rustfmt::skip]
const PHRASES: &[(&str, &[&str])] = &[
    ("rejected", &[
        "domain of sender address", "sender address rejected", "sender verify failed", "sender rejected",
        "sender denied", "may not have permission", "not have permission to post", "not a member of",
        "groups.google.com",
    ]),
    ("mailboxfull", &[
        "mailbox full", "mailbox is full", "mailbox was full", "mailbox has exceeded", "mailbox size limit",
        "over quota", "overquota", "quota exceeded", "exceeded quota", "exceeds quota", "exceed quota",
        "quota limit", "mailbox quota", "disk quota", "storage quota", "quota full", "insufficient storage",
        "not enough storage", "mailbox exceeds", "inbox is full", "account is full", "mailfolder is full",
        "exceeded storage", "storage allocation", "would exceed", "too much mail", "mail box full",
        "full mailbox", "mailbox is over", "user has exceeded", "maildir over", "box is full",
    ]),
    ("mesgtoobig", &[
        "message too big", "message is too big", "message too large", "message is too large",
        "message size exceeds", "exceeds the maximum size", "message length exceeds", "message size limit",
        "exceeded maximum message size", "size exceeds",
    ]),
    ("suspend", &[
        "account disabled", "is disabled", "has been disabled", "suspended", "is inactive", "inactive account",
        "mailbox inactive", "account inactive", "deactivated", "temporary locked", "temporarily locked",
        "account locked", "is locked", "been locked", "account expired", "temporarily disabled",
        "discontinued", "frozen", "is not active", "not active", "has been closed",
        "blocked due to inactivity",
    ]),
    ("hasmoved", &["has moved", "address has changed", "no longer available at this address"]),
    ("norelaying", &[
        "relay access denied", "relaying denied", "relay denied", "relay not permitted",
        "not permitted to relay", "unable to relay", "relaying not allowed", "we do not relay",
        "relay prohibited", "no relaying", "not allowed to relay", "not an open relay", "relay not allowed",
        "relaying to",
    ]),
    ("authfailure", &[
        "dmarc", "spf", "dkim", "sender policy framework", "unauthenticated email", "authentication failure",
        "authentication checks failed", "sender authentication", "authentication check failed",
    ]),
    ("networkerror", &[
        "malformed or unexpected name server reply", "host not found, try again",
        "temporary failure in name resolution",
    ]),
    ("blocked", &[
        "my name was rejected", "invalid ip", "blacklisted", "blocklisted", "spamhaus", "spamcop", "dnsbl",
    ]),
    ("notaccept", &[
        "does not accept mail", "not accepting mail", "null mx", "nullmx", "accepts no mail",
        "no mail is accepted", "no mx found", "no mx record found", "couldn't find a mail exchanger",
        "could not find a mail exchanger", "no smtp service", "doesn't receive email",
        "does not receive email", "not accepting network messages",
    ]),
    ("userunknown", &[
        "user unknown", "unknown user", "user is unknown", "no such user", "no such mailbox",
        "no such recipient", "no such account", "no such local user", "no such person", "recipient unknown",
        "unknown recipient", "invalid recipient", "recipient invalid", "recipient not found",
        "recipient does not exist", "mailbox not found", "mailbox does not exist", "mailbox unavailable",
        "mailbox is unavailable", "unknown mailbox", "invalid mailbox", "not a valid mailbox",
        "mailbox name not allowed", "user not found", "user doesn't exist", "user does not exist",
        "user not exist", "doesn't have a", "does not have an account", "address does not exist",
        "account does not exist", "tried to reach does not exist", "address wasn't found",
        "address was not found", "address not found", "unknown address", "invalid address", "bad address",
        "address unknown", "addressee unknown", "unknown local part", "unknown or illegal", "illegal user",
        "not listed in", "no valid recipients", "bad destination mailbox", "not our customer",
        "unknown account", "undeliverable address", "not a known user", "invalid user", "delivery userid",
        "invalid userid", "check if address is correct", "user invalid",
        "recipient address rejected: access denied",
    ]),
    ("filtered", &[
        "filtered", "refuses to accept", "refused by recipient", "rejected by recipient", "recipient's filter",
        "rejected by the recipient", "recipient preferences", "denied by the recipient",
        "the recipient has blocked", "user has blocked", "blocked by the recipient",
    ]),
    ("hostunknown", &[
        "host unknown", "unknown host", "host not found", "domain not found", "domain does not exist",
        "no such domain", "unknown domain", "invalid domain", "domain name not found", "name service error",
        "host or domain name not found", "unrouteable", "unroutable", "nxdomain", "bad destination system",
        "domain doesn't exist", "not a valid domain", "unknown mail domain", "domain unknown",
        "domain is not reachable",
    ]),
    ("requireptr", &[
        "ptr record", "reverse dns", "reverse lookup", "rdns", "no ptr", "ptr lookup",
        "cannot find your hostname", "can't find your hostname", "cannot resolve your", "ip name lookup",
        "hostname does not resolve", "no reverse", "unresolvable", "reverse host",
    ]),
    ("notcompliantrfc", &[
        "rfc 5322", "rfc5322", "rfc 2822", "rfc2822", "rfc 822", "rfc822 compliant", "not compliant",
        "duplicate header", "multiple from", "multiple addresses in from", "bare lf", "bare line feed",
        "message-id header",
    ]),
    ("badreputation", &["reputation"]),
    ("speeding", &[
        "rate limit", "ratelimit", "too many messages", "sending rate", "rate exceeded", "throttl", "too fast",
        "too many recipients this", "sent to too many recipients",
    ]),
    ("toomanyconn", &[
        "too many recipients", "too many connections", "too many concurrent", "connection limit",
        "too many sessions", "too many simultaneous",
    ]),
    ("virusdetected", &["virus", "malware", "infected"]),
    ("spamdetected", &[
        "spam", "junk mail", "unsolicited", "bulk mail", "bulk e-mail", "content filter",
        "message content rejected", "suspicious", "phishing",
    ]),
    ("contenterror", &["content error", "improper use of 8-bit", "8-bit data", "invalid header", "header error"]),
    ("systemfull", &[
        "insufficient system storage", "disk full", "system storage", "out of disk", "no space left",
        "insufficient disk",
    ]),
    ("expired", &[
        "retry timeout", "retry time", "expired", "timeout exceeded", "delivery time", "too long in",
        "has been delayed", "not yet been delivered", "gave up", "given up", "queue too long", "maximum time",
        "was not delivered within", "could not be delivered for", "delivery attempts", "connection timed out",
        "timed out", "did not accept our requests to connect", "could not deliver for the last",
        "have been failing", "will continue trying", "unable to deliver this message after",
    ]),
    ("networkerror", &[
        "connection refused", "no route to host", "network is unreachable", "could not connect",
        "unable to connect", "connection reset", "lost connection", "connection closed",
        "host lookup did not complete", "not responding", "routing loop", "mail loop", "too many hops",
        "loops back", "hop count",
    ]),
    ("failedstarttls", &["starttls", "tls negotiation", "tls handshake", "ssl handshake"]),
    ("securityerror", &[
        "tls required", "encryption required", "authentication required", "must authenticate",
        "authorization required",
    ]),
    ("mailererror", &[
        "mailer error", "command died", "exit code", "exited with", "pipe to", "procmail", "command output",
    ]),
    ("systemerror", &[
        "system error", "internal error", "server error", "local error", "configuration error", "misconfigur",
        "temporary failure", "temporarily unavailable", "service unavailable", "try again later",
        "local configuration", "resources", "i/o error", "service currently unavailable", "transaction failed",
        "could not load",
    ]),
    ("syntaxerror", &[
        "malformed address", "not implemented", "syntax error", "command unrecognized",
        "command not recognized", "unrecognized command", "line too long",
    ]),
];

/// Broad phrases, consulted only when neither a specific phrase nor a
/// specific status code decided: "Recipient address rejected: Media error"
/// with 5.6.0 is a content error, not an unknown user.
#[rustfmt::skip]
const VAGUE: &[(&str, &[&str])] = &[
    ("rejected", &[
        "sender unknown", "bad sender", "invalid sender", "sender is not", "sender domain", "envelope sender",
        "sender address", "senders address", "your address", "rejected the sender", "sender not",
    ]),
    ("mesgtoobig", &["size limit", "too large", "message exceeds", "mail size"]),
    ("userunknown", &[
        "recipient address rejected", "recipient is not", "not exist", "does not exist", "no longer",
        "cannot be found", "could not be found", "not found", "no account", "no mailbox", "no user",
    ]),
    ("blocked", &[
        "blocked", "blacklist", "blocklist", "block list", "black list", "denylist", "rbl", "listed", "banned",
        "your ip", "ip address", "your host", "client host", "dynamic ip", "dial-up", "dialup", "residential",
        "your isp", "access denied", "not allowed to send", "helo", "ehlo", "rejected because",
        "after initial connection",
    ]),
    ("policyviolation", &["policy", "violat", "prohibited", "not permitted", "not allowed", "restricted"]),
    ("networkerror", &["dns", "name server", "nameserver", "no answer"]),
];

/// What the classifier knows about one failed recipient.
pub struct Evidence<'a> {
    pub status: Option<&'a str>,
    /// The recipient's own diagnostic (or the note explaining it).
    pub text: &'a str,
    /// Everything else said about this recipient: the SMTP transcript may
    /// sit apart from the diagnostic.
    pub context: &'a str,
    /// `Diagnostic-Code:` type (`smtp`, `x-unix`, ...), lowercased.
    pub diagnostic_type: Option<&'a str>,
    pub action: DsnAction,
}

/// The SMTP command a rejection answered, when the text says.
#[derive(Debug, PartialEq, Eq)]
enum Command {
    MailFrom,
    Data,
    Other,
}

/// The best-effort reason for one recipient's failure.
pub fn reason(e: &Evidence<'_>) -> &'static str {
    if e.action == DsnAction::Delivered || e.status.is_some_and(|s| s.starts_with('2')) {
        return "delivered";
    }
    if e.diagnostic_type.is_some_and(|t| t.starts_with("x-unix")) {
        return "mailererror";
    }
    let text = squeeze_lower(e.text);
    let find = |table: &[(&'static str, &[&str])]| {
        table
            .iter()
            .find(|(_, phrases)| phrases.iter().any(|p| text.contains(p)))
            .map(|(name, _)| *name)
    };
    let specific_status = e
        .status
        .filter(|s| !s.ends_with(".0.0") && !s.ends_with(".5.0"))
        .and_then(by_status);
    let found = find(PHRASES)
        .or(specific_status)
        .or_else(|| find(VAGUE))
        .or_else(|| e.status.and_then(by_status));
    let why = match found {
        Some(why) => why,
        None if e.action == DsnAction::Delayed => "expired",
        None if text.is_empty() => "undefined",
        None => "onhold",
    };
    // An address "unknown" after DATA is a content filter wearing a mask
    // (Japanese carriers answer so); after MAIL FROM it is about the sender.
    // A x.1.x status names the address, whatever the transcript shows.
    let about_address = e.status.is_some_and(|s| s.get(1..4) == Some(".1."));
    match (
        why,
        command(&squeeze_lower(&format!("{}\n{}", e.text, e.context))),
    ) {
        ("userunknown", Command::Data) if !about_address => "filtered",
        ("userunknown" | "hostunknown", Command::MailFrom) => "rejected",
        _ => why,
    }
}

/// The SMTP command a transcript or a diagnostic says was refused.
fn command(text: &str) -> Command {
    let any = |needles: &[&str]| needles.iter().any(|n| text.contains(n));
    // Sendmail goes on to DATA after a refused RCPT, so any mention of RCPT
    // means the recipient was refused there.
    if any(&["rcpt to", "rcpt command"]) {
        Command::Other
    } else if any(&[
        ">>> data",
        "end of data",
        "after data",
        "command data",
        "final data",
        "data command",
    ]) {
        Command::Data
    } else if any(&[
        "after mail from",
        ">>> mail from",
        "mail from command",
        "command mail from",
    ]) {
        Command::MailFrom
    } else {
        Command::Other
    }
}

/// The reason an enhanced status code implies on its own (RFC 3463 subjects).
fn by_status(status: &str) -> Option<&'static str> {
    let mut it = status.splitn(3, '.');
    let (_, subject, detail) = (it.next()?, it.next()?, it.next()?);
    Some(match (subject, detail) {
        ("1", "1") | ("1", "3") | ("1", "4") => "userunknown",
        ("1", "2") => "hostunknown",
        ("1", "6") => "hasmoved",
        ("1", "7") | ("1", "8") => "rejected",
        ("1", "10") => "notaccept",
        ("2", "1") => "suspend",
        ("2", "2") => "mailboxfull",
        ("2", "3") => "exceedlimit",
        ("3", "1") => "systemfull",
        ("3", "2") => "notaccept",
        ("3", "4") => "mesgtoobig",
        ("3", _) => "systemerror",
        ("4", "1") | ("4", "2") | ("4", "6") => "networkerror",
        ("4", "4") => "hostunknown",
        ("4", "7") => "expired",
        ("4", _) => "networkerror",
        ("5", _) => "syntaxerror",
        ("6", _) => "contenterror",
        ("7", "1") => "blocked",
        ("7", "23") | ("7", "24") | ("7", "26") => "authfailure",
        ("7", "25") => "requireptr",
        ("7", "27") => "notaccept",
        ("7", _) => "securityerror",
        _ => return None,
    })
}

/// Sisimai's "hard bounce": the address itself is permanently bad.
pub fn is_hard(reason: &str) -> bool {
    matches!(
        reason,
        "userunknown" | "hostunknown" | "hasmoved" | "notaccept"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(status: Option<&str>, text: &str) -> &'static str {
        reason(&Evidence {
            status,
            text,
            context: "",
            diagnostic_type: None,
            action: DsnAction::Failed,
        })
    }

    #[test]
    fn text_beats_generic_status() {
        assert_eq!(
            of(Some("5.5.0"), "550 Unknown user kijitora@example.jp"),
            "userunknown"
        );
        assert_eq!(of(Some("5.0.0"), "552 Mailbox is full"), "mailboxfull");
        assert_eq!(of(Some("5.1.1"), ""), "userunknown");
        assert_eq!(of(Some("5.4.7"), "no text"), "expired");
        assert_eq!(of(None, ""), "undefined");
        assert!(is_hard(of(Some("5.1.2"), "")));
        assert!(!is_hard(of(Some("5.2.2"), "")));
    }

    #[test]
    fn the_smtp_command_refines_address_reasons() {
        assert_eq!(
            of(None, ">>> DATA\n<<< 550 Unknown user a@b.example"),
            "filtered"
        );
        assert_eq!(
            of(None, "550 Unknown user (in reply to end of DATA command)"),
            "filtered"
        );
        assert_eq!(
            of(None, ">>> RCPT To:<a@b.example>\n<<< 550 Unknown user"),
            "userunknown"
        );
        assert_eq!(
            of(
                None,
                "SMTP error after MAIL FROM:<me@x.example>: 550 unknown user"
            ),
            "rejected"
        );
        assert_eq!(of(None, "550 5.7.26 <a@b.example>: Recipient address rejected: authentication checks failed"), "authfailure");
    }
}
