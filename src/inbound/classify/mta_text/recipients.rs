//! The failed recipients a prose bounce's note names, each with the lines
//! that explain its failure: addresses that open a line, labelled ones
//! (`Recipient:`, `RCPT TO:`), Sendmail's expanded aliases, and
//! bare local parts completed from the original or the reporter's domain.

use super::super::text::{self, find_addresses, Found};
use aho_corasick::AhoCorasick;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

/// One failed recipient named in a note, with the lines that explain it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub address: String,
    pub text: String,
}

/// The most addresses taken from a note's sentences. Each is explained by
/// the whole note, so a note naming thousands inline would be copied
/// thousands of times; notices name a handful.
const MAX_IN_SENTENCES: usize = 50;

/// Blocks searched one by one for an address; past this many, by a map.
const SEARCHED: usize = 16;

/// The recipients a note names, each with its explanation. Addresses that
/// open a line (`<a@b>:`, `  a@b`) start a block; when a note names its
/// recipients only inside sentences, every address in it counts. Addresses
/// in `exclude` (the bounce's own From and To, the original sender) never
/// count.
pub fn recipient_blocks(note: &str, exclude: &[String]) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    // Where each address's block is, once there are too many to search.
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut current: Option<usize> = None;
    for line in note.lines() {
        match leading_address(line).filter(|a| !exclude.contains(a)) {
            Some(address) => {
                let found = if blocks.len() < SEARCHED {
                    blocks.iter().position(|b| b.address == address)
                } else {
                    if index.is_empty() {
                        index.extend(
                            blocks
                                .iter()
                                .enumerate()
                                .map(|(i, b)| (b.address.clone(), i)),
                        );
                    }
                    index.get(&address).copied()
                };
                let idx = found.unwrap_or_else(|| {
                    if !index.is_empty() {
                        index.insert(address.clone(), blocks.len());
                    }
                    blocks.push(Block {
                        address,
                        text: String::new(),
                    });
                    blocks.len() - 1
                });
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
        // At most MAX_IN_SENTENCES, so searching it stays cheap.
        let mut seen: Vec<String> = Vec::new();
        // Addresses on a restated `To:` line ("Your message / To: list@… /
        // did not reach the following recipient(s): …").
        let mut restated: Vec<String> = Vec::new();
        for Found { address, start, .. } in find_addresses(note) {
            if seen.len() == MAX_IN_SENTENCES {
                break;
            }
            if !exclude.contains(&address) && !seen.contains(&address) && !names_sender(note, start)
            {
                if on_to_line(note, start) {
                    restated.push(address.clone());
                }
                seen.push(address);
            }
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
        // The original's addressees, restated, are the failed ones only
        // when the note names no one else (helpers set aside first).
        if seen.iter().any(|a| !restated.contains(a)) {
            seen.retain(|a| !restated.contains(a));
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
    static MARKER: LazyLock<AhoCorasick> = LazyLock::new(|| {
        AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(["expanded from:"])
            .expect("the expanded-from marker")
    });
    let mut more = Vec::new();
    // Built at the first marker: most notes have none.
    let mut known: Option<HashSet<String>> = None;
    for b in blocks.iter() {
        let Some(m) = MARKER.find(&b.text) else {
            continue;
        };
        let known = known.get_or_insert_with(|| blocks.iter().map(|b| b.address.clone()).collect());
        // The address is inside the parentheses, on the marker's line.
        let rest = &b.text[m.end()..];
        let rest = &rest[..rest.find([')', '\n']).unwrap_or(rest.len())];
        let Some(found) = text::addresses_in(rest).next() else {
            continue;
        };
        if !exclude.contains(&found.address) && known.insert(found.address.clone()) {
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
    let mut listed: HashSet<String> = HashSet::new();
    let mut listing = false;
    // Whether the paragraph so far speaks of recipients or addresses: the
    // introduction may wrap.
    let mut about_recipients = false;
    for line in note.lines() {
        let t = line.trim();
        if t.is_empty() {
            listing = false;
            about_recipients = false;
            continue;
        }
        let local = line.starts_with([' ', '\t'])
            && !t.contains(char::is_whitespace)
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b));
        if listing && local {
            let address = format!("{}@{domain}", t.to_ascii_lowercase());
            if text::is_address(&address) && listed.insert(address.clone()) {
                blocks.push(Block {
                    address,
                    text: t.to_string(),
                });
            }
            continue;
        }
        let lower = t.to_ascii_lowercase();
        about_recipients |= lower.contains("recipient") || lower.contains("address");
        listing = t.ends_with(':') && about_recipients;
    }
    blocks
}

/// Recipients a note names by local part only, as old AOL and GroupWise
/// notes do ("jdoe   Address is not valid", "jdoe (user not found)"): a
/// line that opens with the local part of one of `candidates` (the
/// returned original's recipients) names that address.
pub fn local_part_blocks(note: &str, candidates: &[String]) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    let mut by_local: HashMap<&str, &String> = HashMap::new();
    for a in candidates {
        by_local
            .entry(a.split('@').next().unwrap_or(""))
            .or_insert(a);
    }
    let mut named: HashSet<&String> = HashSet::new();
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
        let found = by_local.get(token.as_str()).copied();
        if let Some(address) = found.filter(|a| named.insert(a)) {
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
    let label = text::line_before(note, start)
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
    let found = text::addresses_in(t).next()?;
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
    fn many_blocks_are_found_again_by_address() {
        let mut note = String::new();
        for round in ["550 unknown", "again"] {
            for i in 0..40 {
                note.push_str(&format!("u{i}@b.example\n    {round}\n"));
            }
        }
        let blocks = recipient_blocks(&note, &[]);
        assert_eq!(blocks.len(), 40);
        assert!(blocks
            .iter()
            .all(|b| b.text.contains("550 unknown") && b.text.contains("again")));
        assert_eq!(blocks[39].address, "u39@b.example");
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
