//! Which SMTP command a refusal answered (RCPT TO, DATA, MAIL FROM, the
//! greeting), read from the words MTAs use for it or from a Sendmail-style
//! transcript: an unknown user refused at RCPT TO is an address problem,
//! the same words after DATA a filter's.

use aho_corasick::AhoCorasick;
use std::sync::LazyLock;

/// The SMTP command a refusal answered, when the text says.
/// Ordered by precedence when a text names several: a refused RCPT TO
/// explains the failure better than the DATA that followed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Command {
    RcptTo,
    Data,
    MailFrom,
    Helo,
    Connect,
}

impl Command {
    /// Commands before DATA: the server had not seen the message yet.
    pub fn before_data(c: Option<Command>) -> bool {
        c.is_some_and(|c| c != Command::Data)
    }
}

/// The SMTP command a transcript or a diagnostic says was refused, in the
/// words of Postfix ("in reply to RCPT TO command"), Sendmail (">>> DATA"),
/// Exim ("after MAIL FROM"), qmail ("does not like recipient", "sender
/// was rejected", "greeting failed") and others ("[RCPT_TO]").
pub fn command(text: &str) -> Option<Command> {
    if text.contains(">>> ") {
        if let Some(c) = transcript_command(text) {
            return Some(c);
        }
    }
    let (automaton, commands) = &*COMMANDS;
    // Sendmail goes on to DATA after a refused RCPT, so any mention of RCPT
    // means the recipient was refused there: the earliest command wins.
    automaton
        .find_iter(text)
        .filter(|m| {
            // "rcpt" alone must be a word: not "orcpt" or "rcpthosts".
            let (before, after) = (&text[..m.start()], &text[m.end()..]);
            commands[m.pattern().as_usize()].1
                || (!before.ends_with(char::is_alphanumeric)
                    && !after.starts_with(char::is_alphanumeric))
        })
        .map(|m| commands[m.pattern().as_usize()].0)
        .min()
}

/// The words that name each command, in one automaton: `(command, whole
/// phrase)`; a pattern that is not a whole phrase must stand as a word.
static COMMANDS: LazyLock<(AhoCorasick, Vec<(Command, bool)>)> = LazyLock::new(|| {
    const WORDS: &[(Command, &[&str])] = &[
        (Command::RcptTo, &["does not like recipient"]),
        (
            Command::Data,
            &[
                ">>> data",
                "end of data",
                "after data",
                "command data",
                "final data",
                "data command",
                "failed on data command",
                "failed after i sent the message",
            ],
        ),
        (
            Command::MailFrom,
            &[
                "after mail from",
                ">>> mail from",
                "mail from command",
                "command mail from",
                "mail from:<",
                "sender was rejected",
            ],
        ),
        (
            Command::Helo,
            &[
                "ehlo command",
                "helo command",
                ">>> ehlo",
                ">>> helo",
                "after ehlo",
                "after helo",
                "my name was rejected",
            ],
        ),
        (
            Command::Connect,
            &["after initial connection", "greeting failed", "connect to "],
        ),
    ];
    // Each word in lower or upper case, so the raw text around a diagnostic
    // can be read without lowercasing it first, and the search keeps its
    // fast prefilter, which a case-insensitive one loses.
    let mut patterns = Vec::new();
    let mut commands = Vec::new();
    let mut add = |phrase: &str, command: Command, whole: bool| {
        // Every word in lower or upper case: "end of DATA command".
        let words: Vec<&str> = phrase.split(' ').collect();
        for mask in 0..1u32 << words.len().min(5) {
            let variant: Vec<String> = words
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    if mask & (1 << i) != 0 {
                        w.to_uppercase()
                    } else {
                        w.to_string()
                    }
                })
                .collect();
            patterns.push(variant.join(" "));
            commands.push((command, whole));
        }
    };
    add("rcpt", Command::RcptTo, false);
    for (command, words) in WORDS {
        for w in words.iter() {
            add(w, *command, true);
        }
    }
    let automaton = AhoCorasick::builder()
        .kind(Some(aho_corasick::AhoCorasickKind::ContiguousNFA))
        .build(&patterns)
        .expect("command automaton");
    (automaton, commands)
});

/// In a Sendmail-style transcript (">>> RCPT To:<a@b>", "<<< 550 …"), the
/// command sent just before the first refusal.
fn transcript_command(text: &str) -> Option<Command> {
    let mut last = None;
    for part in text.split(">>> ").skip(1) {
        let (sent, rest) = part.split_at(part.find("<<< ").unwrap_or(part.len()));
        let word = sent.split_whitespace().next()?.to_ascii_lowercase();
        last = match word.as_str() {
            "rcpt" => Some(Command::RcptTo),
            "data" => Some(Command::Data),
            "mail" => Some(Command::MailFrom),
            "ehlo" | "helo" => Some(Command::Helo),
            _ => last,
        };
        let reply = rest.strip_prefix("<<< ").unwrap_or("");
        if reply.starts_with(['4', '5']) {
            return last;
        }
    }
    None
}
