//! Bounces written as prose: qmail, Exim, Gmail, Yahoo, Exchange and the
//! many MTAs that return a human-readable note instead of (or besides) an
//! RFC 3464 report. Decides whether a message is such a bounce and
//! whether it only reports a delay; [`recipients`] finds the failed
//! recipients with the text that explains each failure. The note is cut
//! from the returned original by [`super::note`].

mod recipients;

pub use recipients::{listed_local_parts, local_part_blocks, recipient_blocks};

use super::note::split_original;
use super::text::squeeze_lower;
use super::Sender;
use aho_corasick::{AhoCorasick, AhoCorasickKind};
use std::cell::OnceCell;
use std::sync::LazyLock;

/// Words of a bounce's From that say a mail system wrote it.
const SENDER_WORDS: &[&str] = &[
    "mailer-daemon",
    "mailer_daemon",
    "mailer daemon",
    "mailerdaemon",
    "mail-daemon",
    "postmaster",
    "post_master",
    "mail delivery",
    "maildelivery",
    "mail-delivery",
    "delivery subsystem",
    "mail administrator",
    "mail system",
    "mailsystem",
    "mdaemon",
    "bounce",
];

/// Subjects of delivery failure notices (lowercased, matched as substrings).
const SUBJECTS: &[&str] = &[
    "undeliver",
    "delivery status notification",
    "delivery failure",
    "delivery failed",
    "delivery has failed",
    "failed delivery",
    "failure notice",
    "failure delivery",
    "returned mail",
    "return mail",
    "returned to sender",
    "non-delivery",
    "nondelivery",
    "non delivery",
    "not delivered",
    "could not be delivered",
    "couldn't be delivered",
    "delivery problem",
    "delivery error",
    "delivery notification",
    "delivery report",
    "delivery delayed",
    "delayed mail",
    "mail system error",
    "message not deliverable",
    "unable to deliver",
    "could not send message",
    "mail failure",
    "mail failed",
    "failed mail",
    "delivery warning",
    "returning to sender",
    "returning message to sender",
    "could not send mail",
    "email bounce",
    "mail error",
    "メールエラー",
    "bounced mail",
    "unzustellbar",
    "nicht zugestellt",
    "non remis",
    "non recapitabile",
    "no entregado",
    "não entregue",
    "onbestelbaar",
    "配信",
    "不達",
    "未送達",
    "返送",
];

/// Phrases only delivery failure notices contain (lowercased, whitespace squeezed).
const BODY_PHRASES: &[&str] = &[
    "could not be delivered",
    "couldn't be delivered",
    "could not deliver",
    "wasn't able to deliver",
    "was not able to deliver",
    "unable to deliver",
    "failed to deliver",
    "not be delivered",
    "was not delivered",
    "wasn't delivered",
    "undeliverable",
    "undelivered",
    "delivery has failed",
    "delivery failed",
    "delivery to the following recipient",
    "permanent error",
    "permanent failure",
    "permanent fatal error",
    "fatal error",
    "created automatically by mail delivery software",
    "this is the mail system at",
    "this is the qmail-send program",
    "mail delivery system",
    "transcript of session follows",
    "error occurred while trying to deliver",
    "error delivering your mail",
    "following address(es) failed",
    "had delivery errors",
    "failed addresses follow",
    "following addresses had permanent",
    "following recipient",
    "user unknown",
    "unknown user",
    "no such user",
    "mailbox full",
    "mailbox unavailable",
    "remote host said",
    "smtp error",
    "delivery attempts",
    "has not yet been delivered",
    "have not yet been delivered",
    "has been delayed",
    "retry timeout",
    "message you sent",
    "your message to",
    "returned to the sender",
    "returned to you",
    "mail has been returned",
    "returned mail follows",
    "rejected your message",
    "requested action not taken",
    "error message below",
    "attempting to deliver",
    "could not be delivered to",
    "message was rejected",
    "message has been rejected",
    "zugestellt werden",
    "n'a pas pu être remis",
    "no se pudo entregar",
    "non è stato possibile",
    "送信できません",
    "配信できません",
    "届きません",
    "宛先",
];

/// What a message's headers say about who wrote it.
pub struct Envelope<'a> {
    pub from: &'a str,
    pub subject: &'a str,
    pub sender: Sender,
    /// The message carries a `message/rfc822` or `*/rfc822-headers` part.
    pub returns_original: bool,
}

/// Whether `body` (the message's own text) and its headers make it a
/// bounce written as prose, and if so the signals that say so. One signal
/// alone is not enough: a member may well write "undeliverable" or be
/// called postmaster.
pub fn looks_like_bounce(env: &Envelope<'_>, text: &Reading<'_>) -> Option<Vec<String>> {
    let sender = mail_system(env.from);
    let subject = env.subject.trim().to_lowercase();
    // "Re: delivery failure" is a person talking about one.
    let reply = ["re:", "fwd:", "fw:", "aw:", "sv:", "tr:", "wg:"]
        .iter()
        .any(|p| subject.starts_with(p));
    let subject_hit = SUBJECTS
        .iter()
        .find(|s| !reply && subject.contains(*s))
        .map(|s| format!("subject of a delivery failure (\"{s}\")"));
    let null = (env.sender == Sender::Null).then(|| "null envelope sender".to_string());
    let original = env
        .returns_original
        .then(|| "returns the original message".to_string());
    // Mail that someone sent (not the null sender), from a From that is
    // not a mail system's, lets the text decide only with a failure
    // subject and a returned message both: a member may well write "my
    // mail has been returned" under a subject about failed mail. When the
    // envelope is not known, any one supporting signal does: old gateways
    // write notices from addresses such as "System Administrator".
    let someone = env.sender == Sender::Someone && sender.is_none();
    let strict = someone && !(subject_hit.is_some() && original.is_some());
    let support = [sender.clone(), subject_hit.clone(), null, original];
    // Without support the text is never searched, so most mail a person
    // wrote costs nothing here.
    let body_hit = (!strict && support.iter().any(Option::is_some))
        .then(|| text.failure_phrase())
        .flatten();
    if let Some(phrase) = body_hit {
        let hit = format!("text of a delivery failure (\"{phrase}\")");
        return Some(
            std::iter::once(hit)
                .chain(support.into_iter().flatten())
                .collect(),
        );
    }
    match (sender, subject_hit) {
        (Some(a), Some(b)) => Some(vec![a, b]),
        _ => None,
    }
}

/// Why a From header says a mail system wrote the message (an empty From,
/// `MAILER-DAEMON`, `postmaster`, ...), if it does.
pub fn mail_system(from: &str) -> Option<String> {
    let from = from.to_lowercase();
    if from.trim().is_empty() || from.contains("<>") {
        return Some("an empty From".to_string());
    }
    SENDER_WORDS
        .iter()
        .find(|w| from.contains(*w))
        .map(|w| format!("From names a mail system (\"{w}\")"))
}

/// A report's text, read once however many questions are asked of it:
/// the note split from the returned original, and the start of the note
/// lowercased and squeezed, with the failure and delay words it holds.
pub struct Reading<'a> {
    body: &'a str,
    split: OnceCell<(&'a str, &'a str)>,
    /// The ids of the [`WORDS`] patterns found in the note's first 1200
    /// bytes (where notices say what they are), in order.
    words: OnceCell<Vec<usize>>,
}

impl<'a> Reading<'a> {
    pub fn new(body: &'a str) -> Reading<'a> {
        Reading {
            body,
            split: OnceCell::new(),
            words: OnceCell::new(),
        }
    }

    /// The note and the returned original ([`split_original`]).
    pub fn split(&self) -> (&'a str, &'a str) {
        *self.split.get_or_init(|| split_original(self.body))
    }

    fn words(&self) -> &[usize] {
        self.words.get_or_init(|| {
            let head = squeeze_lower(super::text::truncate(self.split().0, 1200));
            let mut found: Vec<usize> = WORDS
                .find_overlapping_iter(&head)
                .map(|m| m.pattern().as_usize())
                .collect();
            found.sort_unstable();
            found.dedup();
            found
        })
    }

    /// The first phrase (in table order) only delivery failure notices
    /// contain, if the note has one.
    fn failure_phrase(&self) -> Option<&'static str> {
        let first = *self.words().first()?;
        (first < BODY_PHRASES.len()).then(|| BODY_PHRASES[first])
    }

    /// Whether the notice (its note and `subject`) says delivery is only
    /// delayed: it will be retried.
    pub fn says_delayed(&self, subject: &str) -> bool {
        let subject = squeeze_lower(subject);
        let in_subject: Vec<usize> = WORDS
            .find_overlapping_iter(&subject)
            .map(|m| m.pattern().as_usize())
            .collect();
        let (mut delayed, mut failed, mut assured) = (false, false, false);
        for &id in self.words().iter().chain(&in_subject) {
            let Some(id) = id.checked_sub(BODY_PHRASES.len()) else {
                continue;
            };
            if id < DELAYED.len() {
                delayed = true;
            } else if id < DELAYED.len() + FAILED.len() {
                failed = true;
            } else {
                assured = true;
            }
        }
        // Unless the note also quotes a permanent refusal (a 5xx reply or
        // a 5.x.x status): "could not be delivered; please do not resend
        // it. 550 5.1.1 User unknown" has failed for good.
        (delayed && !failed) || (assured && !self.quotes_permanent_refusal())
    }

    fn quotes_permanent_refusal(&self) -> bool {
        let note = self.split().0;
        super::text::find_status(note).is_some_and(|s| s.starts_with('5'))
            || super::text::find_reply_code(note).is_some_and(|c| c >= 500)
    }
}

/// Words of a delay warning ("will retry") …
const DELAYED: &[&str] = &[
    "delayed",
    "will continue to try",
    "will retry",
    "will be retried",
    "not yet been delivered",
    "still trying",
    "warning: message",
    "warning--",
    "could not send mail for past",
    "delivery attempts will continue",
];

/// … and of a failure, which outweigh them.
const FAILED: &[&str] = &[
    "permanent",
    "gave up",
    "given up",
    "could not be delivered",
    "failed permanently",
    "has been returned",
    "been rejected",
    "deleted",
];

/// Words of a delay warning that outweigh a failure's ("could not be
/// delivered … Please do not resend your original message. Delivery
/// attempts will continue to be made for 5 day(s).") unless the note
/// quotes a permanent refusal.
const STILL_TRYING: &[&str] = &[
    "do not resend",
    "not need to resend",
    "not need to re-send",
    "attempts will continue to be made",
];

/// [`BODY_PHRASES`], [`DELAYED`], [`FAILED`] and [`STILL_TRYING`] in one
/// automaton, in that order: a note's start is read once for all four. A
/// DFA: for these few phrases it is built in well under a millisecond,
/// and it reads a note faster than an NFA, which follows failure links
/// byte by byte.
static WORDS: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasick::builder()
        .kind(Some(AhoCorasickKind::DFA))
        .build(
            BODY_PHRASES
                .iter()
                .chain(DELAYED)
                .chain(FAILED)
                .chain(STILL_TRYING),
        )
        .expect("report word automaton")
});
