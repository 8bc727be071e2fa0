//! Bounces written as prose: qmail, Exim, Gmail, Yahoo, Exchange and the
//! many MTAs that return a human-readable note instead of (or besides) an
//! RFC 3464 report. Decides whether a message is such a bounce, and finds
//! the failed recipients with the text that explains each failure; the
//! note is cut from the returned original by [`super::note`].

use super::note::split_original;
use super::text::{find_addresses, squeeze_lower, Found};
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
    pub null_sender: bool,
    /// The message carries a `message/rfc822` or `*/rfc822-headers` part.
    pub returns_original: bool,
}

/// Whether `body` (the message's own text) and its headers make it a
/// bounce written as prose, and if so the signals that say so. One signal
/// alone is not enough: a member may well write "undeliverable" or be
/// called postmaster.
pub fn looks_like_bounce(env: &Envelope<'_>, text: &Reading<'_>) -> Option<Vec<String>> {
    let from = env.from.to_lowercase();
    let sender = if from.trim().is_empty() || from.contains("<>") {
        Some("an empty From".to_string())
    } else {
        SENDER_WORDS
            .iter()
            .find(|w| from.contains(*w))
            .map(|w| format!("From names a mail system (\"{w}\")"))
    };
    let subject = env.subject.trim().to_lowercase();
    // "Re: delivery failure" is a person talking about one.
    let reply = ["re:", "fwd:", "fw:", "aw:", "sv:", "tr:", "wg:"]
        .iter()
        .any(|p| subject.starts_with(p));
    let subject_hit = SUBJECTS
        .iter()
        .find(|s| !reply && subject.contains(*s))
        .map(|s| format!("subject of a delivery failure (\"{s}\")"));
    let null = env.null_sender.then(|| "null envelope sender".to_string());
    let original = env
        .returns_original
        .then(|| "returns the original message".to_string());
    let support = [sender.clone(), subject_hit.clone(), null, original];
    // Without a supporting signal the text cannot decide, so most mail a
    // person wrote is never searched.
    let body_hit = support
        .iter()
        .any(Option::is_some)
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
        (delayed && !failed) || assured
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

/// Words only a delay warning holds, which outweigh a failure's: "could
/// not be delivered … Please do not resend your original message.
/// Delivery attempts will continue to be made for 5 day(s)."
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

/// One failed recipient named in a note, with the lines that explain it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub address: String,
    pub text: String,
}

/// The recipients a note names, each with its explanation. Addresses that
/// open a line (`<a@b>:`, `  a@b`) start a block; when a note names its
/// recipients only inside sentences, every address in it counts. Addresses
/// in `exclude` (the bounce's own From and To, the original sender) never
/// count.
pub fn recipient_blocks(note: &str, exclude: &[String]) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    let mut current: Option<usize> = None;
    for line in note.lines() {
        match leading_address(line).filter(|a| !exclude.contains(a)) {
            Some(address) => {
                let idx = match blocks.iter().position(|b| b.address == address) {
                    Some(i) => i,
                    None => {
                        blocks.push(Block {
                            address,
                            text: String::new(),
                        });
                        blocks.len() - 1
                    }
                };
                current = Some(idx);
                push_line(&mut blocks[idx].text, line);
            }
            None => {
                if let Some(i) = current {
                    push_line(&mut blocks[i].text, line);
                }
            }
        }
    }
    expanded_from(&mut blocks, exclude);
    if blocks.is_empty() {
        let mut seen: Vec<String> = Vec::new();
        // Addresses on a restated `To:` line ("Your message / To: list@… /
        // did not reach the following recipient(s): …").
        let mut restated: Vec<String> = Vec::new();
        for Found { address, start, .. } in find_addresses(note) {
            if !exclude.contains(&address) && !seen.contains(&address) && !names_sender(note, start)
            {
                if on_to_line(note, start) {
                    restated.push(address.clone());
                }
                seen.push(address);
            }
        }
        // The original's addressees, restated, are the failed ones only
        // when the note names no one else.
        if seen.iter().any(|a| !restated.contains(a)) {
            seen.retain(|a| !restated.contains(a));
        }
        // "Contact postmaster@… for help" names a helper, not a recipient,
        // unless no one else is named.
        let role = |a: &String| {
            let local = a.split('@').next().unwrap_or("");
            [
                "postmaster",
                "mailer-daemon",
                "abuse",
                "hostmaster",
                "webmaster",
            ]
            .contains(&local)
        };
        if seen.iter().any(|a| !role(a)) {
            seen.retain(|a| !role(a));
        }
        blocks = seen
            .into_iter()
            .map(|address| Block {
                address,
                text: note.to_string(),
            })
            .collect();
    }
    blocks
}

/// Sendmail names the address an alias led to, then the one it was sent
/// to ("gone@host.example / (expanded from: gone@example.org)"): the
/// second is the address the sender knows, so it is named too.
fn expanded_from(blocks: &mut Vec<Block>, exclude: &[String]) {
    let mut more = Vec::new();
    for b in blocks.iter() {
        let bytes = b.text.as_bytes();
        let at = memchr::memmem::find(bytes, b"xpanded from:")
            .or_else(|| memchr::memmem::find(bytes, b"XPANDED FROM:"));
        let Some(at) = at else {
            continue;
        };
        let Some(found) = super::text::addresses_in(&b.text[at..]).next() else {
            continue;
        };
        let known = blocks
            .iter()
            .chain(&more)
            .any(|o| o.address == found.address);
        if !known && !exclude.contains(&found.address) {
            more.push(Block {
                address: found.address,
                text: b.text.clone(),
            });
        }
    }
    blocks.extend(more);
}

/// Recipients a note lists by local part alone under a line that
/// introduces them ("… could not be delivered because …:" / "\tjdoe"),
/// with no returned message to complete them from: AOL's screen names,
/// the users of the system that wrote the note. They are completed with
/// `domain`, the domain of the note's sender.
pub fn listed_local_parts(note: &str, domain: &str) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    let mut listing = false;
    // The paragraph so far, lowercased: the introduction may wrap.
    let mut paragraph = String::new();
    for line in note.lines() {
        let t = line.trim();
        if t.is_empty() {
            listing = false;
            paragraph.clear();
            continue;
        }
        let local = line.starts_with([' ', '\t'])
            && !t.contains(char::is_whitespace)
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b));
        if listing && local {
            let address = format!("{}@{domain}", t.to_ascii_lowercase());
            if super::text::is_address(&address) && !blocks.iter().any(|b| b.address == address) {
                blocks.push(Block {
                    address,
                    text: t.to_string(),
                });
            }
            continue;
        }
        paragraph.push(' ');
        paragraph.push_str(&t.to_ascii_lowercase());
        listing =
            t.ends_with(':') && (paragraph.contains("recipient") || paragraph.contains("address"));
    }
    blocks
}

/// Recipients a note names by local part only, as old AOL and GroupWise
/// notes do ("jdoe   Address is not valid", "jdoe (user not found)"): a
/// line that opens with the local part of one of `candidates` (the
/// returned original's recipients) names that address.
pub fn local_part_blocks(note: &str, candidates: &[String]) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    for line in note.lines() {
        let token = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .trim_matches(['<', '>', '"', '\'', ':', ','])
            .to_lowercase();
        if token.is_empty() || token.contains('@') || line.split_whitespace().count() < 2 {
            continue;
        }
        let found = candidates
            .iter()
            .find(|a| a.split('@').next() == Some(token.as_str()));
        if let Some(address) = found.filter(|a| !blocks.iter().any(|b| &b.address == *a)) {
            blocks.push(Block {
                address: address.clone(),
                text: line.trim().to_string(),
            });
        }
    }
    blocks
}

/// Whether the address at `start` is on a line labelled `To:` or `Cc:`.
fn on_to_line(note: &str, start: usize) -> bool {
    let label = super::text::line_before(note, start)
        .trim()
        .trim_end_matches(['<', '"'])
        .trim_end();
    ["to:", "cc:"].iter().any(|l| label.eq_ignore_ascii_case(l))
}

/// Whether the address at `start` is introduced as the sender (`MAIL
/// FROM:<…>`, `envelope-from <…>`, `sender=…`) in a transcript.
fn names_sender(note: &str, start: usize) -> bool {
    let from = note[..start]
        .char_indices()
        .rev()
        .nth(15)
        .map_or(0, |(i, _)| i);
    let before = note[from..start].to_ascii_lowercase();
    ["from:", "from=", "from <", "mail from ", "sender"]
        .iter()
        .any(|w| before.contains(w))
}

fn push_line(text: &mut String, line: &str) {
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str(line.trim());
}

/// Labels that may precede a recipient at the start of a line.
const RECIPIENT_LABELS: &[&str] = &[
    "rcpt to",
    "recipient",
    "recipients",
    "recipient address",
    "failed recipient",
    "invalid recipient",
    "unknown recipient",
    "original recipient",
    "address",
    "email address",
    "e-mail address",
    "mailbox",
    "user",
    "could not be delivered to",
    "delivery to",
];

/// The address a line opens with, if it opens with one (possibly after a
/// label such as `RCPT TO:` or `Recipient:`).
fn leading_address(line: &str) -> Option<String> {
    if !line.contains('@') {
        return None;
    }
    let t = line
        .trim_start()
        .trim_start_matches(['*', '-', '•', '>', ' ']);
    let found = super::text::addresses_in(t).next()?;
    let prefix = t[..found.start]
        .trim()
        .trim_end_matches(['<', '"', '\'', '('])
        .trim_end();
    let labelled = prefix
        .strip_suffix(':')
        .is_some_and(|l| RECIPIENT_LABELS.contains(&l.trim().to_ascii_lowercase().as_str()));
    // Sendmail's transcript: "550 <a@b>... User unknown".
    let reply = prefix.len() == 3
        && prefix.starts_with(['4', '5'])
        && prefix.bytes().all(|b| b.is_ascii_digit());
    (prefix.is_empty() || labelled || reply).then_some(found.address)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_follow_leading_addresses() {
        let note = "failed:\n\n  a@b.example\n    SMTP error after RCPT TO:<a@b.example>:\n    550 user unknown\n  c@d.example\n    552 full\n";
        let blocks = recipient_blocks(note, &[]);
        assert_eq!(blocks.len(), 2);
        assert!(blocks[0].text.contains("550 user unknown"));
        assert!(blocks[1].text.contains("552 full"));
    }

    #[test]
    fn senders_in_transcripts_are_not_recipients() {
        let note = "In:  MAIL\n     FROM:<me@x.example> SIZE=1\nIn:  RCPT TO:<you@y.example>\nOut: 451 4.3.0 Error\n";
        let blocks = recipient_blocks(note, &[]);
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].address, "you@y.example");
    }

    #[test]
    fn a_restated_to_line_gives_way_to_the_recipient_named() {
        let note = "Your message\n\n  To:      list@lists.example.org\n  Subject: Re: hi\n\n\
                    did not reach the following recipient(s):\n\n\
                    c=US;a= ;p=Org;o=Site;dda:SMTP=gone@example.COM; on Fri, 4 Oct 2002\n    The recipient name is not recognized\n";
        let blocks = recipient_blocks(note, &[]);
        let names: Vec<&str> = blocks.iter().map(|b| b.address.as_str()).collect();
        assert_eq!(names, ["gone@example.com"]);
        // Alone, the restated addressee is the one.
        let alone = "Your message\n  To: gone@example.org\ncould not be delivered.\n";
        assert_eq!(recipient_blocks(alone, &[])[0].address, "gone@example.org");
    }

    #[test]
    fn an_expanded_alias_names_the_address_sent_to() {
        let note = "   ----- The following addresses had permanent fatal errors -----\n\
                    gone@host.example.net\n    (expanded from: gone@example.net)\n";
        let names: Vec<String> = recipient_blocks(note, &[])
            .into_iter()
            .map(|b| b.address)
            .collect();
        assert_eq!(names, ["gone@host.example.net", "gone@example.net"]);
    }

    #[test]
    fn local_parts_listed_under_an_introduction_take_the_reporters_domain() {
        let note = "Your mail to the following recipients could not be delivered because\n\
                    they are not accepting mail from list@lists.example.org:\n\tscreenname\n\tother.name\n\n\
                    Sincerely:\n\tthe team\n";
        let names: Vec<String> = listed_local_parts(note, "example.com")
            .into_iter()
            .map(|b| b.address)
            .collect();
        assert_eq!(names, ["screenname@example.com", "other.name@example.com"]);
        assert!(listed_local_parts("Hello:\n\tjdoe\n", "example.com").is_empty());
    }

    #[test]
    fn falls_back_to_addresses_in_sentences() {
        let blocks = recipient_blocks(
            "There was an error delivering your mail to <a@b.example>.\n",
            &["me@x.example".into()],
        );
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].address, "a@b.example");
    }
}
