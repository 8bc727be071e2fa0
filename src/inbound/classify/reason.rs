//! Why a delivery failed, in Sisimai's taxonomy (userunknown, mailboxfull,
//! expired, blocked, ...), decided from three pieces of evidence: what the
//! diagnostic says ([`phrases`]), what the RFC 3463 status code means, and
//! which SMTP command the remote server was answering.
//!
//! The procedure, in order:
//! 1. Specific causes, each from its phrases or its status code, most
//!    specific first ([`PRIMARY`]). An unknown *user* needs a status that
//!    names the address (x.1.x) or a refusal at RCPT TO: the same words
//!    after DATA, or with nothing to say when, are a filter's answer
//!    ("filtered"). A sender refusal counts at MAIL FROM or after DATA.
//! 2. When the status names nothing specific, the broader causes by their
//!    phrases ([`SECONDARY`]); then what the status code means on its own;
//!    then its subject (x.6 content, x.7 security), the diagnostic type
//!    (a local program), the reply code (syntax), the action (delayed).
//! 3. Otherwise "onhold" (something was said, nothing understood) or
//!    "undefined".
//!
//! Only the four "hard" reasons say the *address* is bad and should stop
//! receiving mail at once; everything else is scored as a soft bounce.

mod command;
mod phrases;

use super::text::{squeeze_lower, truncate};
use super::DsnAction;
use command::{command, Command};
use phrases::Hits;
use std::cell::OnceCell;

/// How many bytes of a diagnostic and of its context are read.
const MAX_READ: usize = 1500;

/// Causes that a phrase or a status code can name, checked in this order.
const PRIMARY: &[&str] = &[
    "mailboxfull",
    "mesgtoobig",
    "exceedlimit",
    "suspend",
    "hasmoved",
    "norelaying",
    "authfailure",
    "userunknown",
    "filtered",
    "requireptr",
    "nullmx",
    "notcompliantrfc",
    "badreputation",
    "contenterror",
    "rejected",
    "hostunknown",
    "spamdetected",
    "speeding",
    "toomanyconn",
    "blocked",
];

/// Causes read from phrases alone when the status leaves the question open.
const SECONDARY: &[&str] = &[
    "mailboxfull",
    "authfailure",
    "badreputation",
    "speeding",
    "spamdetected",
    "virusdetected",
    "policyviolation",
    "norelaying",
    "systemerror",
    "networkerror",
    "suspend",
    "contenterror",
    "systemfull",
    "notaccept",
    "expired",
    "failedstarttls",
    "securityerror",
    "suppressed",
    "mailererror",
];

/// Reasons a status code may give while a phrase knows better.
const OPEN: &[&str] = &[
    "systemerror",
    "securityerror",
    "expired",
    "networkerror",
    "hostunknown",
    "userunknown",
];

/// What the classifier knows about one failed recipient.
pub struct Evidence<'a> {
    pub status: Option<&'a str>,
    /// The recipient's own diagnostic (or the note explaining it), as
    /// [`prepare`] leaves it.
    pub text: &'a str,
    /// Everything else said about this recipient, as it was written: the
    /// SMTP transcript may sit apart from the diagnostic.
    pub context: &'a str,
    /// `Diagnostic-Code:` type (`smtp`, `x-unix`, ...), lowercased.
    pub diagnostic_type: Option<&'a str>,
    /// The SMTP reply code, when one was found.
    pub code: Option<u16>,
    pub action: DsnAction,
}

/// A diagnostic or its context as [`reason`] reads it: the first
/// [`MAX_READ`] characters (diagnostics are short; a whole note says what
/// there is to say early), lowercased, whitespace squeezed.
pub fn prepare(text: &str) -> String {
    squeeze_lower(truncate(text, MAX_READ))
}

/// The best-effort reason for one recipient's failure.
pub fn reason(e: &Evidence<'_>) -> &'static str {
    if e.action == DsnAction::Delivered || e.status.is_some_and(|s| s.starts_with('2')) {
        return "delivered";
    }
    let text = e.text;
    let named = e.status.and_then(by_status);
    let smtp = e
        .diagnostic_type
        .is_none_or(|t| t == "smtp" || t.is_empty());
    let case = Case {
        hits: Hits::of(text),
        command: OnceCell::new(),
        named,
        e,
    };
    let found = smtp
        .then(|| PRIMARY.iter().copied().find(|r| case.probe(r)))
        .flatten()
        .map(|r| if r == "nullmx" { "notaccept" } else { r })
        .or_else(|| case.otherwise());
    match found {
        Some(why) => why,
        None if e.action == DsnAction::Delayed => "expired",
        None if text.trim().is_empty() => "undefined",
        None => "onhold",
    }
}

/// One recipient's evidence, prepared.
struct Case<'a> {
    hits: Hits,
    /// Read only when a rule needs it: the context may be long.
    command: OnceCell<Option<Command>>,
    /// What the status code means on its own.
    named: Option<&'static str>,
    e: &'a Evidence<'a>,
}

impl Case<'_> {
    fn says(&self, reason: &str) -> bool {
        self.hits.says(reason)
    }

    /// The SMTP command the refusal answered, from the diagnostic or else
    /// the text around it.
    fn cmd(&self) -> Option<Command> {
        *self.command.get_or_init(|| {
            command(self.e.text).or_else(|| command(truncate(self.e.context, MAX_READ)))
        })
    }

    /// Whether the evidence points at `reason` among the specific causes.
    fn probe(&self, reason: &str) -> bool {
        let named = |r: &str| self.named == Some(r);
        match reason {
            "mesgtoobig" => {
                named(reason)
                    || (!named("exceedlimit")
                        && self.e.status != Some("5.2.3")
                        && self.says(reason))
            }
            "suspend" => self.e.code == Some(525) || self.says(reason),
            "hasmoved" => named(reason) || self.says(reason),
            "notcompliantrfc" | "badreputation" | "speeding" => self.says(reason),
            "norelaying" => {
                self.says(reason) && !matches!(self.cmd(), Some(Command::Connect | Command::Helo))
            }
            "userunknown" => {
                if self.decisive_user() {
                    return true;
                }
                if named(reason) {
                    if self.cmd() == Some(Command::MailFrom) {
                        return false;
                    }
                    // A x.1.1 on a full box, a moved one or a refused sender is about those.
                    ![
                        "norelaying",
                        "blocked",
                        "mailboxfull",
                        "hasmoved",
                        "notaccept",
                    ]
                    .iter()
                    .any(|r| self.says(r))
                        && !self.refuses_sender()
                } else {
                    // Refused at RCPT TO; or the reporting system's own
                    // verdict, quoting no remote server's reply: it looked
                    // the user up itself.
                    self.says(reason)
                        && match self.cmd() {
                            Some(c) => c == Command::RcptTo,
                            None => self.e.code.is_none(),
                        }
                }
            }
            "filtered" => {
                let words = self.says("userunknown") || self.says(reason);
                if named(reason) {
                    words
                } else {
                    words && !Command::before_data(self.cmd())
                }
            }
            // A null MX (RFC 7505) is final, whatever else the report says.
            "nullmx" => self.says("nullmx"),
            "contenterror" => !self.probe("spamdetected") && (named(reason) || self.says(reason)),
            "rejected" => {
                if named(reason) {
                    return true;
                }
                let refuses = self.refuses_sender();
                if refuses && matches!(self.named, None | Some("securityerror" | "systemerror")) {
                    return true;
                }
                // At MAIL FROM, an unknown address or a denial is the sender's.
                let unknown = self.says("userunknown")
                    || self.says("hostunknown")
                    || self.says("access denied");
                (refuses || unknown)
                    && match self.cmd() {
                        Some(Command::MailFrom) => true,
                        Some(Command::Data) => refuses && !named("userunknown"),
                        _ => false,
                    }
            }
            "hostunknown" => {
                // Our own host refused at the greeting is another matter,
                // and so is a DNS failure. x.1.2 says the domain does not
                // exist; x.4.4 only that no route was found, which a
                // domain without mail exchanger explains better.
                let bad_domain = self.e.status.is_some_and(|s| s.get(1..) == Some(".1.2"));
                let other = self.says("networkerror") || (!bad_domain && self.says("notaccept"));
                (named(reason) || self.says(reason))
                    && !other
                    && !matches!(
                        self.cmd(),
                        Some(Command::Connect | Command::Helo | Command::MailFrom)
                    )
            }
            "spamdetected" => {
                self.e.status.is_some()
                    && (named(reason) || (self.says(reason) && !Command::before_data(self.cmd())))
            }
            _ => named(reason) || self.says(reason),
        }
    }

    /// Diagnostics that providers document as "no such recipient" whatever
    /// the command: Exchange's resolver codes, Yahoo's "dd" refusal.
    fn decisive_user(&self) -> bool {
        self.says("decisive userunknown")
    }

    /// Sender refusals, except where the words are about a recipient.
    fn refuses_sender(&self) -> bool {
        !self.says("about a recipient") && self.says("rejected")
    }

    /// When no specific cause was found: broader phrases while the status
    /// leaves the question open, then the status itself, then its subject.
    fn otherwise(&self) -> Option<&'static str> {
        let smtp = self
            .e
            .diagnostic_type
            .is_none_or(|t| t == "smtp" || t.is_empty());
        let open = self.named.is_none_or(|n| OPEN.contains(&n));
        if !open && smtp {
            return self.named;
        }
        if let Some(r) = SECONDARY.iter().copied().find(|r| self.says(r)) {
            return Some(r);
        }
        if self.named.is_some() {
            return self.named;
        }
        // Not an SMTP reply, yet the words may still name the cause.
        if !smtp {
            let said = PRIMARY
                .iter()
                .copied()
                .find(|r| *r != "nullmx" && self.says(r));
            if said.is_some() {
                return said;
            }
        }
        let subject = self.e.status.and_then(|s| s.get(1..3));
        if subject == Some(".6") {
            return Some("contenterror");
        }
        if subject == Some(".7") {
            return Some("securityerror");
        }
        if self
            .e
            .diagnostic_type
            .is_some_and(|t| t.starts_with("x-unix"))
        {
            return Some("mailererror");
        }
        let syntax_code = self
            .e
            .code
            .is_some_and(|c| (401..408).contains(&c) || (501..508).contains(&c));
        if syntax_code || self.says("syntaxerror") {
            return Some("syntaxerror");
        }
        if self.e.action == DsnAction::Delayed {
            return Some("expired");
        }
        if self.cmd() == Some(Command::Helo) {
            return Some("blocked");
        }
        self.hits.vaguely()
    }
}

/// The reason an enhanced status code implies on its own (RFC 3463 and
/// its successors: 5.1.10 and 5.7.27 null MX, 5.7.2x authentication,
/// 5.7.25 reverse DNS). Generic codes (x.0.0, 4.5.0, 4.7.0, ...) imply
/// nothing.
fn by_status(status: &str) -> Option<&'static str> {
    let mut it = status.splitn(3, '.');
    let (class, subject, detail) = (it.next()?, it.next()?, it.next()?);
    let temporary = class == "4";
    Some(match (subject, detail) {
        ("1", "1" | "3") if !temporary => "userunknown",
        ("1", "0") if !temporary => "userunknown",
        ("1", "2") if !temporary => "hostunknown",
        ("1", "4") if !temporary => "filtered",
        ("1", "6") => "hasmoved",
        ("1", "7" | "8") => "rejected",
        ("1", "9") => "systemerror",
        ("1", "10") => "notaccept",
        ("2", "0") if !temporary => "filtered",
        ("2", "1") if temporary => "blocked",
        ("2", "1") => "filtered",
        ("2", "2") => "mailboxfull",
        ("2", "3") => "exceedlimit",
        ("2", "4") => "filtered",
        ("3", "0") if !temporary => "systemerror",
        ("3", "1") => "systemfull",
        ("3", "2") => "notaccept",
        ("3", "3" | "5") => "systemerror",
        ("3", "4") => "mesgtoobig",
        ("4", "0") if !temporary => "networkerror",
        ("4", "1") if temporary => "expired",
        ("4", "6") => "networkerror",
        ("4", "2" | "4" | "8") if temporary => "networkerror",
        ("4", "3") => "systemerror",
        ("4", "4") => "hostunknown",
        ("4", "5") if temporary => "systemfull",
        ("4", "7") if temporary => "expired",
        ("5", "2" | "6") if !temporary => "syntaxerror",
        ("5", "3") if temporary => "systemerror",
        ("5", "3") => "toomanyconn",
        ("5", "4" | "5") => "systemerror",
        ("6", "0" | "2" | "5") => "contenterror",
        ("6", "1" | "3" | "6" | "7" | "8" | "9") if !temporary => "contenterror",
        ("7", "0") if !temporary => "securityerror",
        ("7", "1" | "2") if temporary => "blocked",
        ("7", "13") if !temporary => "suspend",
        ("7", "16") => "mesgtoobig",
        ("7", "17" | "18") if !temporary => "hasmoved",
        ("7", "20" | "21" | "22" | "23" | "29") if !temporary => "authfailure",
        ("7", "24" | "26") => "authfailure",
        ("7", "25") => "requireptr",
        ("7", "27") if !temporary => "notaccept",
        ("7", "28") if !temporary => "spamdetected",
        ("7", "30") if !temporary => "failedstarttls",
        ("7", "5" | "6" | "7" | "12" | "15") => "securityerror",
        ("7", _) if !temporary => "securityerror",
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
            text: &prepare(text),
            context: "",
            diagnostic_type: None,
            code: super::super::text::find_reply_code(text),
            action: DsnAction::Failed,
        })
    }

    #[test]
    fn status_and_words_together() {
        assert_eq!(of(Some("5.1.1"), "550 5.1.1 user unknown"), "userunknown");
        assert_eq!(of(Some("5.0.0"), "552 Mailbox is full"), "mailboxfull");
        assert_eq!(of(Some("5.1.1"), ""), "userunknown");
        assert_eq!(of(Some("4.4.7"), "no text"), "expired");
        assert_eq!(of(None, ""), "undefined");
        assert_eq!(of(None, "something odd happened"), "onhold");
        assert!(is_hard(of(Some("5.1.2"), "")));
        assert!(!is_hard(of(Some("5.2.2"), "")));
    }

    #[test]
    fn an_unknown_user_needs_the_address_named_or_rcpt_refused() {
        // The status names the address, or the refusal came at RCPT TO.
        assert_eq!(
            of(Some("5.1.1"), "550 5.1.1 <a@b.example>... User unknown"),
            "userunknown"
        );
        assert_eq!(
            of(None, ">>> RCPT To:<a@b.example>\n<<< 550 Unknown user"),
            "userunknown"
        );
        // The same words after DATA, or with nothing to say when: a filter.
        assert_eq!(
            of(None, ">>> DATA\n<<< 550 Unknown user a@b.example"),
            "filtered"
        );
        assert_eq!(
            of(Some("5.0.0"), "550 Unknown user a@b.example"),
            "filtered"
        );
        assert_eq!(of(Some("5.7.1"), "550 5.7.1 User Unknown"), "filtered");
    }

    #[test]
    fn sender_refusals_and_policies() {
        assert_eq!(
            of(
                None,
                "SMTP error after MAIL FROM:<me@x.example>: 550 sender rejected"
            ),
            "rejected"
        );
        assert_eq!(
            of(
                Some("5.7.26"),
                "550 5.7.26 Unauthenticated email is not accepted"
            ),
            "authfailure"
        );
        assert_eq!(of(Some("5.7.1"), "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org"), "blocked");
        assert_eq!(
            of(Some("5.7.1"), "554 5.7.1 delivery not authorized"),
            "securityerror"
        );
    }
}
