//! Recognisers for the lines around a reply that are not the member's words:
//! separator lines, mobile "Sent from my …" signatures, and the header block
//! ("From: … Sent: … To: … Subject: …") that Outlook-style clients put above
//! the mail they quote.

use super::scan::{is_blank, is_word, skip_while, strip_phrase_ci, strip_word_ci};

/// A separator line: nothing but dashes, underscores, stars and the like.
/// A lone `-`, `*` or `+` is a bullet waiting for its item, not a separator.
pub(crate) fn is_delimiter(line: &str) -> bool {
    const MARKS: &[char] = &['-', '_', ',', '=', '+', '~', '#', '*', 'ᐧ', '—'];
    let mut marks = 0;
    for c in line.chars() {
        if MARKS.contains(&c) {
            marks += 1;
        } else if !is_blank(c) {
            return false;
        }
    }
    let lone_bullet = marks == 1 && matches!(line.trim(), "-" | "*" | "+");
    marks > 0 && !lone_bullet
}

/// Header names whose value must contain a digit (a date).
const DATE_HEADERS: &[&str] = &[
    "Sendt",
    "Sent",
    "Date",
    "Le",
    "Gesendet",
    "Enviada em",
    "Enviado",
    "Fecha",
    "Data",
    "Datum",
    "Skickat",
    "发送时间",
    "發送時間",
    "寄件日期",
    "送信日時",
    "Отправлено",
    "Дата",
    "Wysłano",
    "Envoyé",
    "Inviato",
    "Lähetetty",
    "Tarih",
];

/// Header names whose value must contain a word. Matched case-insensitively.
const TEXT_HEADERS: &[&str] = &[
    "From",
    "To",
    "Cc",
    "Bcc",
    "Reply-To",
    "Subject",
    "Fra",
    "Til",
    "Emne",
    "De",
    "Expéditeur",
    "À",
    "Destinataire",
    "Répondre à",
    "Objet",
    "Cci",
    "Von",
    "An",
    "Betreff",
    "Kopie",
    "Para",
    "Assunto",
    "Asunto",
    "Da",
    "Risposta",
    "Oggetto",
    "Van",
    "Beantwoorden - Aan",
    "Aan",
    "Onderwerp",
    "Från",
    "Till",
    "Ämne",
    "Kopia",
    "发件人",
    "收件人",
    "主题",
    "抄送",
    "寄件者",
    "收件者",
    "主旨",
    "差出人",
    "宛先",
    "件名",
    "От",
    "Кому",
    "Тема",
    "Копия",
    "Od",
    "Do",
    "Temat",
    "DW",
    "Lähettäjä",
    "Vastaanottaja",
    "Aihe",
    "Kimden",
    "Kime",
    "Konu",
];

/// A mail header line such as `*From:* Ann <a@x.org>` or `Gesendet: 11.02.2016`.
pub(crate) fn is_header(line: &str) -> bool {
    if !line.contains([':', '：']) {
        return false;
    }
    let s = skip_while(line, |c| is_blank(c) || c == '*');
    let date = DATE_HEADERS.iter().any(|name| {
        s.strip_prefix(name)
            .and_then(header_value)
            .is_some_and(|v| v.bytes().any(|b| b.is_ascii_digit()))
    });
    date || TEXT_HEADERS.iter().any(|name| {
        strip_phrase_ci(s, name)
            .and_then(header_value)
            .is_some_and(|v| v.chars().any(is_word))
    })
}

/// The value after `name`, allowing blanks and Markdown stars before the colon.
fn header_value(after_name: &str) -> Option<&str> {
    let s = skip_while(after_name, |c| is_blank(c) || c == '*');
    s.strip_prefix(':').or_else(|| s.strip_prefix('：'))
}

/// Phrases that open a mobile or webmail signature line on their own.
const SIGNATURE_OPENERS: &[&str] = &[
    "從我的 iPhone 傳送",
    "从我的 iPhone 发送",
    "发自我的",
    "Get Outlook for ",
    "Envoyé depuis mon",
    "Envoyé depuis Yahoo Mail",
    "Envoyé de mon",
    "Inviato da ",
    "Sendt fra min ",
    "Enviado do meu ",
    "Enviado desde mi ",
    "Enviado de mi ",
    "Verzonden met ",
    "Verzonden vanaf mijn ",
    "Verstuurd vanaf mijn ",
    "från min ",
    "Skickat från min ",
    "Отправлено с ",
    "Wysłane z ",
    "Wysłano z ",
];

/// A "Sent from my iPhone"-style line, in any of the common languages.
pub(crate) fn is_signature(line: &str) -> bool {
    let unlinked = strip_markdown_links(line);
    let s = unlinked.trim_start_matches(is_blank);
    if s.chars().count() > 120 {
        return false;
    }
    SIGNATURE_OPENERS
        .iter()
        .any(|p| strip_phrase_ci(s, p).is_some())
        || sent_from_device(s)
        || from_my_device(s)
        || word_from_mobile(s)
        || german_sent(s)
        || s.ends_with("から送信")
}

/// A dash glued to a name, "-Ann" or "-Abhishek Kona": how many people
/// sign off a short reply. Only the last line of a reply counts (see
/// [`super::trim_reply`]); "- item" with a space is a list, not a name.
pub(crate) fn is_sign_off(line: &str) -> bool {
    let s = line.trim();
    let Some(name) = s.strip_prefix('-') else {
        return false;
    };
    name.chars().next().is_some_and(char::is_alphabetic)
        && name.chars().count() <= 40
        && name.split_whitespace().count() <= 4
        && name
            .chars()
            .all(|c| c.is_alphabetic() || matches!(c, ' ' | '.' | '\'' | '-'))
}

/// "Sent from my iPhone", "(Sent from mobile device)", "<<sent by galaxy>>".
/// A continuation after a comma must be an apology ("please excuse typos"),
/// so that "Sent from my desk, is much easier…" stays the member's text.
fn sent_from_device(s: &str) -> bool {
    let unwrapped = s.trim_start_matches(['(', '<']);
    let Some(rest) = strip_phrase_ci(unwrapped, "Sent ") else {
        return false;
    };
    // "Sent by …" is a signature only when set apart: "<<sent by galaxy>>".
    let bracketed = unwrapped.len() < s.len();
    let verbs: &[&str] = if bracketed {
        &["from ", "via ", "with ", "by "]
    } else {
        &["from ", "via ", "with "]
    };
    let device = verbs.iter().find_map(|w| strip_phrase_ci(rest, w));
    let Some(device) = device.filter(|d| !d.trim().is_empty()) else {
        return false;
    };
    match clause_break(device) {
        None => true,
        Some(continuation) => is_apology(continuation),
    }
}

/// The text after the first ", ", ". ", "; " or " - " in `s`, if any.
fn clause_break(s: &str) -> Option<&str> {
    [", ", ". ", "; ", " - "]
        .iter()
        .filter_map(|sep| s.find(sep).map(|at| at + sep.len()))
        .min()
        .map(|at| s[at..].trim_start())
}

fn is_apology(s: &str) -> bool {
    const OPENERS: &[&str] = &[
        "please", "excuse", "pardon", "sorry", "apolog", "forgive", "typo",
    ];
    OPENERS.iter().any(|w| strip_phrase_ci(s, w).is_some())
}

/// "From My Iphone 6": short, and nothing else on the line.
fn from_my_device(s: &str) -> bool {
    strip_phrase_ci(s, "From my ").is_some_and(|rest| {
        let n = rest.trim_end().chars().count();
        (1..=20).contains(&n) && clause_break(rest).is_none()
    })
}

/// "Nik from mobile".
fn word_from_mobile(s: &str) -> bool {
    let word_len: usize = s
        .chars()
        .take_while(|&c| is_word(c))
        .map(char::len_utf8)
        .sum();
    word_len > 0
        && strip_word_ci(&s[word_len..], " from mobile").is_some_and(|rest| {
            rest.chars()
                .all(|c| is_blank(c) || c.is_ascii_punctuation())
        })
}

/// "Von meinem iPhone gesendet", "Diese Nachricht wurde von … gesendet".
fn german_sent(s: &str) -> bool {
    ["Von meinem ", "Diese Nachricht wurde von "]
        .iter()
        .any(|opener| {
            strip_phrase_ci(s, opener).is_some_and(|rest| {
                rest.find(" gesendet")
                    .or_else(|| rest.find(" Gesendet"))
                    .is_some_and(|at| at > 0)
            })
        })
}

/// Replaces `[text](url)` by `text`, as signatures often arrive from
/// HTML-to-Markdown converters.
fn strip_markdown_links(line: &str) -> std::borrow::Cow<'_, str> {
    if !line.contains("](") {
        return line.into();
    }
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let link = after.find("](").and_then(|close| {
            let text = &after[..close];
            let url_len = after[close + 2..].find(')')?;
            (!text.is_empty() && !text.contains(['[', ']']) && url_len > 0)
                .then_some((text, close + 2 + url_len + 1))
        });
        match link {
            Some((text, consumed)) => {
                out.push_str(&rest[..open]);
                out.push_str(text);
                rest = &after[consumed..];
            }
            None => {
                out.push_str(&rest[..=open]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiters_but_not_bullets() {
        assert!(is_delimiter("-- "));
        assert!(is_delimiter("  ________"));
        assert!(is_delimiter("ᐧ"));
        assert!(!is_delimiter("-"));
        assert!(!is_delimiter("*"));
        assert!(!is_delimiter("a -- b"));
        assert!(!is_delimiter(""));
    }

    #[test]
    fn headers() {
        assert!(is_header("*From:* Outlook user"));
        assert!(is_header("Gesendet: Don 11 Februar 2016 11:23"));
        assert!(is_header("件名: 会議"));
        assert!(!is_header("Sent: tomorrow"));
        assert!(!is_header("From my point of view: yes"));
    }

    #[test]
    fn signatures() {
        assert!(is_signature("Sent from my iPhone"));
        assert!(is_signature("Sent from my cell, please excuse any typos."));
        assert!(is_signature(
            "Get [Outlook for Android](https://example.com/x)"
        ));
        assert!(is_signature("Envoyé de mon iPhone"));
        assert!(is_signature("iPhoneから送信"));
        assert!(is_signature("Von meinem Mobilgerät gesendet"));
        assert!(!is_signature(
            "Sent from my desk, is much easier than my phone."
        ));
        assert!(!is_signature(
            "From my experience, restarting the node fixes it."
        ));
        assert!(!is_signature(
            "Posting from mobile because the site is down"
        ));
    }
}
