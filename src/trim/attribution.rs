//! Recognises the line that introduces someone else's mail inside a reply:
//! "On <date>, <someone> wrote:" in its many languages and client variants,
//! and "Forwarded message" / "Original Message" banners.
//!
//! Every matcher is a single forward scan over one line (after
//! [`super::join`] has glued attributions that clients wrapped over several
//! lines), so the cost stays linear whatever the input.

use super::scan::{
    has_clock_time, has_digit_run, has_email, is_blank, is_word, skip_while, strip_phrase_ci,
    strip_suffix_ci, strip_trailing_colon, strip_word_ci, word_starts,
};

/// Whether `line` introduces an embedded (quoted or forwarded) email.
pub(crate) fn is_embedded_marker(line: &str) -> bool {
    is_attribution(line) || is_forward_banner(line)
}

/// Whether `line` is an attribution such as "On Mon, 5 Jan 2015, Ann wrote:".
pub(crate) fn is_attribution(line: &str) -> bool {
    on_date_someone_wrote(line)
        || on_date_wrote_someone(line)
        || date_someone_wrote(line)
        || date_someone_email(line)
        || someone_wrote_on_date(line)
        || iso_date_someone(line)
        || someone_via_something_wrote(line)
        || someone_wrote(line)
        || posted_by_on_date(line)
        || attribution_with_inline_quote(line)
}

/// Yahoo Mail's plain text flattens the quote into its attribution's line:
/// "  On Tue, Mar 3, 2026 at 10:15, Ann<ann@x.org> wrote:   When is …".
/// An address and a clock time before "wrote:" make it one.
fn attribution_with_inline_quote(line: &str) -> bool {
    let s = skip_while(line, is_blank);
    let Some(rest) = strip_phrase_ci(s, "On").and_then(|r| r.strip_prefix(is_blank)) else {
        return false;
    };
    rest.match_indices(" wrote:").any(|(at, _)| {
        let head = &rest[..at];
        has_email(head) && has_clock_time(head)
    })
}

/// What may follow the closing verb of an attribution.
#[derive(Clone, Copy)]
enum Tail {
    /// Only punctuation such as `:` or ` ----` up to the end of the line.
    LineEnd,
    /// Like `LineEnd`, but a colon is required: "… John said" ending a
    /// wrapped line of prose is common, "… John said:" much less so.
    Colon,
    /// The author may follow the verb ("Am … schrieb Max <m@x.de>:").
    AuthorThenColon,
}

struct Family {
    starters: &'static [&'static str],
    /// Closing verbs, tried in order.
    enders: &'static [(&'static str, Tail)],
    /// Whole words that end the search unsuccessfully.
    stops: &'static [&'static str],
}

use Tail::{AuthorThenColon as Author, Colon, LineEnd as End};

/// "<Starter> <date and author> <verb>:" per language. Matching is
/// case-insensitive; the span between starter and verb may not contain a
/// starter or a verb as a whole word, which keeps one attribution from
/// swallowing ordinary sentences that happen to begin with "On" or "Le".
const FAMILIES: &[Family] = &[
    Family {
        starters: &["在"],
        enders: &[("写道", End), ("寫道", End)],
        stops: &["在", "写道", "寫道"],
    },
    Family {
        starters: &["Op"],
        enders: &[("het volgende geschreven", End), ("schreef", Author)],
        stops: &["Op", "het volgende geschreven", "schreef"],
    },
    Family {
        starters: &["In message"],
        enders: &[("writes", End)],
        stops: &["In message", "writes"],
    },
    Family {
        starters: &["On", "At"],
        enders: &[
            ("wrote", End),
            ("writes", End),
            ("says", Colon),
            ("said", Colon),
        ],
        stops: &["On", "wrote", "writes", "says", "said"],
    },
    Family {
        starters: &["Le"],
        enders: &[("nous a dit", End), ("a écrit", End)],
        stops: &["Le", "nous a dit", "a écrit"],
    },
    Family {
        starters: &["Am"],
        enders: &[
            ("schrieben Sie", End),
            ("geschrieben", End),
            ("schrieb", Author),
        ],
        stops: &["Am", "schrieben Sie", "geschrieben"],
    },
    Family {
        starters: &["Il"],
        enders: &[("ha scritto", End)],
        stops: &["Il", "ha scritto"],
    },
    Family {
        starters: &["Dnia", "Dňa", "W dniu"],
        enders: &[
            ("napisał(a)", End),
            ("napisała", End),
            ("napisał", End),
            ("pisze", End),
        ],
        stops: &["Dnia", "Dňa", "napisał", "pisze"],
    },
    Family {
        starters: &["Em"],
        enders: &[("escreveu", End)],
        stops: &["Em", "escreveu"],
    },
    Family {
        starters: &["El"],
        enders: &[("escribió", End)],
        stops: &["El", "escribió"],
    },
];

fn is_tail_char(c: char) -> bool {
    is_blank(c) || matches!(c, '.' | ':' | '>' | '-' | '：')
}

pub(crate) fn on_date_someone_wrote(line: &str) -> bool {
    let s = skip_while(line, |c| is_blank(c) || matches!(c, '<' | '>' | '-'));
    FAMILIES.iter().any(|family| {
        family.starters.iter().any(|starter| {
            strip_phrase_ci(s, starter)
                .and_then(|rest| rest.strip_prefix(is_blank))
                .is_some_and(|span| family_closes(family, span))
        })
    })
}

/// Scans the span after the starter for the closing verb.
fn family_closes(family: &Family, span: &str) -> bool {
    let mut prev: Option<char> = None;
    for (i, c) in span.char_indices() {
        let word_start = is_word(c) && !prev.is_some_and(is_word);
        prev = Some(c);
        // CJK verbs are glued to the preceding time ("10:00写道").
        if !(word_start || is_cjk(c)) {
            continue;
        }
        let here = &span[i..];
        if i > 0 {
            for &(verb, tail) in family.enders {
                if let Some(rest) = strip_phrase_ci(here, verb) {
                    if tail_ok(rest, tail) && has_date_or_address(&span[..i]) {
                        return true;
                    }
                }
            }
        }
        if word_start && is_stop_word(family, here) {
            return false;
        }
    }
    false
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF)
}

fn is_stop_word(family: &Family, here: &str) -> bool {
    family
        .stops
        .iter()
        .any(|word| strip_word_ci(here, word).is_some())
}

/// Real attributions carry a date or an address; requiring one keeps
/// sentences like "On reflection, I think he said" out.
fn has_date_or_address(span: &str) -> bool {
    span.bytes().any(|b| b.is_ascii_digit() || b == b'@')
}

fn tail_ok(rest: &str, tail: Tail) -> bool {
    if rest.chars().all(is_tail_char) {
        return !matches!(tail, Tail::Colon) || rest.contains([':', '：']);
    }
    match tail {
        Tail::LineEnd | Tail::Colon => false,
        Tail::AuthorThenColon => match rest.find(':') {
            None => !rest.starts_with(':'),
            Some(0) => false,
            Some(colon) => rest[colon..].chars().all(is_tail_char),
        },
    }
}

/// "Den 15. jun. 2016 kl. 20.42 skrev Jeff <j@x.org>:" — the author and any
/// text may follow the verb; a colon must come after it.
pub(crate) fn on_date_wrote_someone(line: &str) -> bool {
    const PAIRS: &[(&[&str], &str)] = &[
        (&["Op"], "schreef"),
        (&["Am"], "schrieb"),
        (
            &[
                "Den", "man.", "tir.", "ons.", "tor.", "fre.", "lør.", "søn.", "mån.", "tis.",
                "lör.",
            ],
            "skrev",
        ),
    ];
    let s = skip_while(line, |c| is_blank(c) || c == '>');
    PAIRS.iter().any(|(starters, verb)| {
        starters.iter().any(|starter| {
            s.strip_prefix(starter)
                .filter(|rest| rest.starts_with(char::is_whitespace))
                .is_some_and(|rest| verb_then_colon(rest, verb))
        })
    })
}

fn verb_then_colon(rest: &str, verb: &str) -> bool {
    rest.match_indices(verb).any(|(at, _)| {
        let before = &rest[..at];
        let spaced_before = before.len() > 2 && before.ends_with(char::is_whitespace);
        let after = &rest[at + verb.len()..];
        let mut chars = after.chars();
        let spaced_after = chars.next().is_some_and(char::is_whitespace);
        spaced_before && spaced_after && chars.as_str().find(':').is_some_and(|p| p > 0)
    })
}

/// "30 серп. 2016 р. 20:45 "Arpit" <a@x.com> пише:" — a year, then within a
/// couple of lines' worth of text a Slavic "wrote" ending the line.
pub(crate) fn date_someone_wrote(line: &str) -> bool {
    const VERBS: &[&str] = &[
        "написал(а):",
        "написала:",
        "написал:",
        "написав:",
        "пише:",
        "пишет:",
        "napisał(a):",
        "napisała:",
        "napisał:",
    ];
    let s = line.trim_end();
    VERBS.iter().any(|verb| {
        s.strip_suffix(verb)
            .is_some_and(|head| digits_shortly_before(head, 240))
    })
}

/// Whether a run of four ASCII digits ends between 1 and `max` characters
/// before the end of `head`.
fn digits_shortly_before(head: &str, max: usize) -> bool {
    let start = head.char_indices().rev().nth(max + 3).map_or(0, |(i, _)| i);
    let window = &head[start..];
    let mut run = 0;
    let total = window.chars().count();
    for (n, c) in window.chars().enumerate() {
        run = if c.is_ascii_digit() { run + 1 } else { 0 };
        if run >= 4 && n + 1 < total && total - (n + 1) <= max {
            return true;
        }
    }
    false
}

/// "2015-10-18 0:17 GMT+03:00 Matt <m@x.org>:" and the Japanese
/// "2023/01/05 10:00、山田 <t@x.jp>のメール:" — a date shortly before a
/// bracketed address that ends the line.
pub(crate) fn date_someone_email(line: &str) -> bool {
    let s = line.trim_end();
    let s = strip_trailing_colon(s).unwrap_or(s);
    let s = s.strip_suffix("のメール").unwrap_or(s);
    let Some(body) = s.strip_suffix('>') else {
        return false;
    };
    let Some(lt) = body.rfind('<') else {
        return false;
    };
    is_bracketed_address(&body[lt + 1..]) && digits_shortly_before(&body[..lt], 81)
}

fn is_bracketed_address(addr: &str) -> bool {
    let Some((local, domain)) = addr.split_once('@') else {
        return false;
    };
    let domain_ok = domain
        .split_once('.')
        .is_some_and(|(first, rest)| !first.is_empty() && !rest.is_empty());
    !local.is_empty() && !domain.contains('@') && !addr.contains('>') && domain_ok
}

/// "Max <m@x.de> schrieb am Fr., 28. Apr. 2017 um 11:53 Uhr:".
pub(crate) fn someone_wrote_on_date(line: &str) -> bool {
    [("wrote", "on"), ("schrieb", "am")]
        .iter()
        .any(|(verb, on)| {
            line.match_indices(verb).any(|(at, _)| {
                let before_ok = at > 0 && !line[..at].ends_with(is_word);
                let rest = &line[at + verb.len()..];
                let after = rest.trim_start();
                let spaced = after.len() < rest.len();
                let tail = after.strip_prefix(on).filter(|t| !t.starts_with(is_word));
                before_ok && spaced && tail.is_some_and(colon_after_two_chars)
            })
        })
}

fn colon_after_two_chars(tail: &str) -> bool {
    let mut prev = None;
    tail.chars().enumerate().any(|(n, c)| {
        let hit = n >= 2 && c == ':' && prev != Some(':');
        prev = Some(c);
        hit
    })
}

/// "2016-03-03 17:21 GMT+01:00 Some One" (Gmail, some locales).
fn iso_date_someone(line: &str) -> bool {
    let s = skip_while(line, |c| is_blank(c) || c == '>');
    match_shape(s, "20##-##-## ##:## GMT+##:## ")
        .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| is_word(c) || is_blank(c)))
}

/// Matches `shape` at the start of `s`, where `#` stands for an ASCII digit.
fn match_shape<'a>(s: &'a str, shape: &str) -> Option<&'a str> {
    let bytes = s.as_bytes();
    if bytes.len() < shape.len() {
        return None;
    }
    let ok = shape.bytes().zip(bytes).all(|(p, &b)| match p {
        b'#' => b.is_ascii_digit(),
        _ => p == b,
    });
    ok.then(|| &s[shape.len()..])
}

/// "codinghorror via Discourse Meta <info@discourse.org> schrieb:".
fn someone_via_something_wrote(line: &str) -> bool {
    let s = line.trim_end();
    let s = s.strip_suffix(':').unwrap_or(s).trim_end();
    [" wrote", " schrieb"].iter().any(|verb| {
        s.strip_suffix(verb).is_some_and(|head| {
            head.find(" via ")
                .is_some_and(|at| at > 0 && head.len() > at + " via ".len())
        })
    })
}

/// "Some One <info@discourse.org> wrote:" in several languages: an address
/// (or a date with a time) and a closing verb at the end of the line.
fn someone_wrote(line: &str) -> bool {
    const VERBS: &[&str] = &[
        "wrote",
        "schrieb",
        "a écrit",
        "escribió",
        "escreveu",
        "ha scritto",
        "schreef",
        "skrev",
        "kirjoitti",
        "napisał(a)",
        "написал(а)",
        "написал",
        "написала",
        "пише",
        "пишет",
        "yazdı",
        "写道",
        "寫道",
        "書きました",
        "さんは書きました",
    ];
    let s = line.trim_end();
    let s = strip_trailing_colon(s).unwrap_or(s);
    if s.len() > 400 {
        return false;
    }
    VERBS.iter().any(|verb| {
        strip_suffix_ci(s, verb).is_some_and(|head| {
            let boundary =
                !verb.starts_with(is_word) || !head.ends_with(is_word) || verb.starts_with(is_cjk);
            let dated = has_digit_run(head, 4) && has_clock_time(head);
            boundary && !head.trim().is_empty() && (has_email(head) || dated)
        })
    })
}

/// "Posted by mpalmer on 01/21/2016".
fn posted_by_on_date(line: &str) -> bool {
    let s = skip_while(line, |c| is_blank(c) || c == '>');
    let Some(rest) = strip_phrase_ci(s, "Posted by ") else {
        return false;
    };
    let rest = rest.trim_end();
    let n = " on ##/##/####".len();
    rest.len() > n && rest.is_char_boundary(rest.len() - n) && {
        let (name, date) = rest.split_at(rest.len() - n);
        let date_lower = date.to_ascii_lowercase();
        !name.trim().is_empty() && match_shape(&date_lower, " on ##/##/####") == Some("")
    }
}

/// "Begin forwarded message:", "-----Original Message-----" and their
/// translations.
pub(crate) fn is_forward_banner(line: &str) -> bool {
    dashed_banner(line) || colon_banner(line)
}

fn dashed_banner(line: &str) -> bool {
    const PHRASES: &[&str] = &[
        "Forwarded Message",
        "Original Message",
        "Reply Message",
        "Message transféré",
        "Message d'origine",
        "Ursprüngliche Nachricht",
        "Weitergeleitete Nachricht",
        "Mensaje original",
        "Mensaje reenviado",
        "Messaggio originale",
        "Messaggio inoltrato",
        "Mensagem original",
        "Mensagem encaminhada",
        "Oorspronkelijk bericht",
        "Doorgestuurd bericht",
        "Ursprungligt meddelande",
        "Vidarebefordrat meddelande",
        "Oryginalna wiadomość",
        "Przekazana wiadomość",
        "Wiadomość przekazana",
        "Исходное сообщение",
        "Пересылаемое сообщение",
        "Пересланное сообщение",
        "原始邮件",
        "原始郵件",
        "转发邮件",
        "元のメッセージ",
        "転送メッセージ",
    ];
    let s = skip_while(line, |c| is_blank(c) || matches!(c, '>' | '*'));
    let after_dashes = s.trim_start_matches('-');
    if s.len() - after_dashes.len() < 2 {
        return false;
    }
    let inner = after_dashes.trim_start_matches(is_blank);
    PHRASES.iter().any(|phrase| {
        strip_phrase_ci(inner, phrase)
            .is_some_and(|rest| rest.trim_start_matches(is_blank).starts_with("--"))
    })
}

fn colon_banner(line: &str) -> bool {
    const PHRASES: &[&str] = &[
        "Begin forwarded message",
        "Début du message transféré",
        "Anfang der weitergeleiteten Nachricht",
        "Inicio del mensaje reenviado",
        "Inizio messaggio inoltrato",
        "Início da mensagem reencaminhada",
        "Begin doorgestuurd bericht",
        "Vidarebefordrat brev",
        "Начало переадресованного сообщения",
    ];
    let s = skip_while(line, |c| is_blank(c) || c == '>');
    PHRASES.iter().any(|phrase| {
        strip_phrase_ci(s, phrase).is_some_and(|rest| {
            let rest = rest.trim_start_matches(is_blank);
            rest.starts_with(':') || rest.starts_with('：')
        })
    })
}

/// Cheap pre-check used by the line joiner: could an attribution that a
/// client wrapped over several lines start on this line?
pub(crate) fn may_start_attribution(line: &str) -> bool {
    let s = skip_while(line, |c| is_blank(c) || matches!(c, '<' | '>' | '-'));
    let starts_family = FAMILIES.iter().any(|f| {
        f.starters
            .iter()
            .any(|st| strip_phrase_ci(s, st).is_some_and(|r| r.starts_with(is_blank)))
    });
    let wrote_on = word_starts(line).any(|i| {
        let w = &line[i..];
        strip_word_ci(w, "wrote").is_some() || strip_word_ci(w, "schrieb").is_some()
    });
    starts_family || wrote_on || has_digit_run(line, 4)
}
