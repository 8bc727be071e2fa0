//! Behavioural tests for [`super::trim_reply`]: the client formats and
//! languages we promise to handle, and a robustness fuzz over hostile input.

use std::time::{Duration, Instant};

use super::{html_to_text, trim_reply, Trimmed};

fn text(body: &str) -> String {
    trim_reply(body).text
}

#[test]
fn plain_text_is_kept_whole() {
    let body = "\n\nJust an answer.\n\n- with\n- a list\n\n";
    assert_eq!(
        trim_reply(body),
        Trimmed {
            text: "Just an answer.\n\n- with\n- a list".into(),
            elided: String::new()
        }
    );
}

#[test]
fn crlf_line_endings() {
    let body =
        "Line one\r\nLine two\r\n\r\nOn Thu, Jan 5, 2023 at 10:00 AM, Ann <ann@example.org> \
                wrote:\r\n> old\r\n";
    let got = trim_reply(body);
    assert_eq!(got.text, "Line one\nLine two");
    assert!(!got.elided.contains('\r'));
}

#[test]
fn top_posted_reply_drops_attribution_and_quote() {
    let body =
        "Yes, since 2.1.\n\nOn Thu, Jan 5, 2023 at 10:00 AM Ann <ann@example.org> wrote:\n\n\
                > Does it work on ARM?\n>\n> Ann\n";
    let got = trim_reply(body);
    assert_eq!(got.text, "Yes, since 2.1.");
    assert!(got.elided.starts_with("On Thu, Jan 5, 2023"));
    assert!(got.elided.ends_with("> Ann"));
}

#[test]
fn attribution_wrapped_over_two_lines() {
    let body =
        "Thanks!\n\nOn Thu, Jan 5, 2023 at 10:00 AM, Ann Example <ann@example.org>\nwrote:\n\n\
                > Old question\n";
    let got = trim_reply(body);
    assert_eq!(got.text, "Thanks!");
    assert!(got
        .elided
        .starts_with("On Thu, Jan 5, 2023 at 10:00 AM, Ann Example <ann@example.org> wrote:"));
}

#[test]
fn interleaved_reply_keeps_the_members_text() {
    let body = "On Thu, Jan 5, 2023 at 10:00 AM Ann <ann@example.org> wrote:\n\
                > Does it work on ARM?\n\nYes, since 2.1.\n\n> And on Windows?\n\nNot yet.\n\n\
                > Thanks,\n> Ann\n";
    assert_eq!(
        text(body),
        "> Does it work on ARM?\n\nYes, since 2.1.\n\n> And on Windows?\n\nNot yet."
    );
}

#[test]
fn bottom_posted_reply_keeps_text_below_the_quote() {
    let body = "On 5 Jan 2023, at 10:00, Ann wrote:\n\n> Does it work?\n\nIt does.\n";
    assert_eq!(text(body), "It does.");
}

#[test]
fn outlook_original_message_block() {
    let body = "Sounds good.\n\n-----Original Message-----\nFrom: Bob <bob@example.org>\n\
                Sent: Thursday, January 5, 2023 10:00 AM\nTo: Ann <ann@example.org>\n\
                Subject: Plan\n\nOld text\n";
    let got = trim_reply(body);
    assert_eq!(got.text, "Sounds good.");
    assert!(got.elided.starts_with("-----Original Message-----"));
}

#[test]
fn outlook_header_block_without_banner() {
    let body = "Sounds good.\n\n*From:* Bob <bob@example.org>\n*Sent:* Thursday, January 5, 2023 \
                10:00 AM\n*To:* Ann\n*Subject:* Plan\n\nOld text\n";
    assert_eq!(text(body), "Sounds good.");
}

#[test]
fn mobile_signatures_are_elided() {
    let got = trim_reply("Yes.\n\nSent from my iPhone");
    assert_eq!(
        (got.text.as_str(), got.elided.as_str()),
        ("Yes.", "Sent from my iPhone")
    );
    assert_eq!(text("Ja.\n\nVon meinem iPhone gesendet"), "Ja.");
    assert_eq!(text("Oui.\n\nEnvoyé de mon iPhone"), "Oui.");
    assert_eq!(text("はい。\n\niPhoneから送信"), "はい。");
}

#[test]
fn sentences_that_resemble_signatures_are_kept() {
    let body = "Here it is.\n\nSent from my desk, which beats my phone.";
    assert_eq!(text(body), body);
    let body = "From my experience, restarting the node fixes it.";
    assert_eq!(text(body), body);
}

#[test]
fn signature_delimiter() {
    let got = trim_reply("Answer.\n\n-- \nAnn\nhttps://example.org\n");
    assert_eq!(got.text, "Answer.");
    assert_eq!(got.elided, "-- \nAnn\nhttps://example.org");
    let body = "A fix -- not a signature.\n\nBye";
    assert_eq!(text(body), body);
}

#[test]
fn lone_bullets_are_not_separators() {
    let body = "My list:\n\n-\nFirst\n*\nSecond";
    assert_eq!(text(body), body);
}

#[test]
fn code_blocks_survive_separator_lookalikes() {
    let body = "Config:\n\n```\n---\nkey: value\n####\n```\n\nDone.";
    assert_eq!(text(body), body);
}

#[test]
fn lone_header_like_lines_are_the_members_text() {
    let body = "Q: what is it?\nA: 42\n\nTo: whom it may concern";
    assert_eq!(text(body), body);
}

#[test]
fn markdown_tables_are_not_quotes() {
    let body = "Results:\n\n| a | b |\n|---|---|\n| 1 | 2 |";
    assert_eq!(text(body), body);
}

/// One attribution per language, as the major clients write them.
const ATTRIBUTIONS: &[(&str, &str)] = &[
    (
        "de",
        "Am Do., 5. Jan. 2023 um 10:00 Uhr schrieb Anna Beispiel <anna@example.de>:",
    ),
    (
        "de",
        "Anna Beispiel <anna@example.de> schrieb am Do., 5. Jan. 2023, 10:00:",
    ),
    (
        "fr",
        "Le jeu. 5 janv. 2023 à 10:00, Anne Exemple <anne@example.fr> a écrit :",
    ),
    (
        "es",
        "El jue, 5 ene 2023 a las 10:00, Ana Ejemplo (<ana@example.es>) escribió:",
    ),
    (
        "nl",
        "Op do 5 jan. 2023 om 10:00 schreef Anna Voorbeeld <anna@example.nl>:",
    ),
    (
        "pl",
        "czw., 5 sty 2023 o 10:00 Anna Przykład <anna@example.pl> napisał(a):",
    ),
    ("pl", "W dniu 5.01.2023 o 10:00, Anna Przykład pisze:"),
    (
        "pt",
        "Em qui., 5 de jan. de 2023 às 10:00, Ana Exemplo <ana@example.pt> escreveu:",
    ),
    (
        "ru",
        "чт, 5 янв. 2023 г. в 10:00, Анна Пример <anna@example.ru>:",
    ),
    ("ru", "05.01.2023 10:00, Анна Пример пишет:"),
    (
        "sv",
        "Den tors 5 jan. 2023 kl 10:00 skrev Anna Exempel <anna@example.se>:",
    ),
    (
        "it",
        "Il giorno gio 5 gen 2023 alle ore 10:00 Anna Esempio <anna@example.it> ha scritto:",
    ),
    (
        "zh",
        "在 2023年1月5日 10:00，张三 <zhang@example.cn> 写道：",
    ),
    (
        "zh",
        "张三 <zhang@example.cn> 于2023年1月5日周四 10:00写道：",
    ),
    ("ja", "2023年1月5日(木) 10:00 山田太郎 <taro@example.jp>:"),
    (
        "ja",
        "2023/01/05 10:00、山田太郎 <taro@example.jp>のメール:",
    ),
];

#[test]
fn attributions_in_many_languages() {
    for (lang, attribution) in ATTRIBUTIONS {
        let body = format!("Reply text.\n\n{attribution}\n\n> Quoted text\n> more\n");
        let got = trim_reply(&body);
        assert_eq!(got.text, "Reply text.", "{lang}: {attribution}");
        assert!(got.elided.starts_with(attribution), "{lang}: {attribution}");
    }
}

/// Replies as mobile and desktop clients write them, with the text each
/// must keep: iOS Mail (quoted with or without "> "), Android and Samsung,
/// Outlook mobile and desktop in several languages, Sparrow, Spark,
/// Airmail, Thunderbird, Yahoo (which flattens the quote into the
/// attribution's line), and localized attributions.
#[test]
fn replies_from_many_clients() {
    let cases: &[(&str, &str, &str)] = &[
        ("airmail", "Friday is better.\n\nOn 3 March 2026 at 10:15:32, Ann Smith (ann@example.com) wrote:\n\nThursday or Friday?\n", "Friday is better."),
        ("android_gmail", "Thursday.\n\nOn Tue, Mar 3, 2026, 10:15 Ann Smith <ann@example.com> wrote:\n\n> When is the meeting?\n>\n", "Thursday."),
        ("dutch", "Ja, donderdag.\n\nOp di 3 mrt. 2026 om 10:15 schreef Ann Smith <ann@example.com>:\n\n> Wanneer is de vergadering?\n", "Ja, donderdag."),
        ("french", "Oui, c'est prévu pour jeudi.\n\nLe mar. 3 mars 2026 à 10:15, Ann Smith <ann@example.com> a écrit :\n\n> Quand est la réunion ?\n", "Oui, c'est prévu pour jeudi."),
        ("german", "Ja, das passt.\n\nVon meinem iPhone gesendet\n\nAm 03.03.2026 um 10:15 schrieb Ann Smith <ann@example.com>:\n\nWann ist das Treffen?\n", "Ja, das passt."),
        ("gmailwrap", "Agreed, the second option is cheaper.\n\nOn Tue, Mar 3, 2026 at 10:15 AM Ann Smith via PM Circle <\npm@lists.example.org> wrote:\n\n> Which vendor should we pick?\n>\n", "Agreed, the second option is cheaper."),
        ("ios1", "Sounds good, thanks!\n\nSent from my iPhone\n\n> On Mar 3, 2026, at 10:15 AM, Ann Smith <ann@example.com> wrote:\n> \n> Can you send the deck?\n", "Sounds good, thanks!"),
        ("ios2", "Yes, Thursday works for me.\n\nSent from my iPhone\n\nOn Mar 3, 2026, at 10:15 AM, Ann Smith <ann@example.com> wrote:\n\nCan you send the deck before Thursday?\n\nThanks,\nAnn\n", "Yes, Thursday works for me."),
        ("iosfr", "Oui, merci.\n\nEnvoyé de mon iPhone\n\nLe 3 mars 2026 à 10:15, Ann Smith <ann@example.com> a écrit :\n\nQuand est la réunion ?\n", "Oui, merci."),
        ("italian", "Sì, giovedì.\n\nIl giorno mar 3 mar 2026 alle ore 10:15 Ann Smith <ann@example.com> ha\nscritto:\n\n> Quando è la riunione?\n", "Sì, giovedì."),
        ("japanese", "はい、木曜日です。\n\n2026年3月3日(火) 10:15 Ann Smith <ann@example.com>:\n\n> 会議はいつですか？\n", "はい、木曜日です。"),
        ("da", "Tak.\n\nFra: Ann Smith <ann@example.com>\nSendt: 3. marts 2026 10:15\nTil: pm@lists.example.org\nEmne: Re: Spørgsmål\n\nHvornår er mødet?\n", "Tak."),
        ("de", "Danke, das hilft.\n\nVon: Ann Smith <ann@example.com>\nGesendet: Dienstag, 3. März 2026 10:15\nAn: pm@lists.example.org\nBetreff: Re: Frage\n\nWann ist das Treffen?\n", "Danke, das hilft."),
        ("es", "Gracias.\n\nDe: Ann Smith <ann@example.com>\nEnviado el: martes, 3 de marzo de 2026 10:15\nPara: pm@lists.example.org\nAsunto: Re: Pregunta\n\n¿Cuándo es la reunión?\n", "Gracias."),
        ("from_replyto", "Thanks for the pointer.\n\nFrom: Ann Smith <ann@example.com>\nReply-To: PM Circle <pm@lists.example.org>\nDate: Tuesday, March 3, 2026 at 10:15 AM\nTo: Dana <dana@example.org>\nSubject: Re: Question\n\nWhen is the meeting?\n", "Thanks for the pointer."),
        ("from_to_date", "Thanks for the pointer.\n\nFrom: Ann Smith [mailto:ann@example.com]\nSent: Tuesday, March 03, 2026 10:15 AM\nTo: Dana\nCc: PM Circle\nSubject: RE: Question\n\nWhen is the meeting?\n", "Thanks for the pointer."),
        ("gmail_danish", "Det lyder godt.\n\nDen tir. 3. mar. 2026 kl. 10.15 skrev Ann Smith <ann@example.com>:\n\n> Hvornår er mødet?\n", "Det lyder godt."),
        ("inbox", "Yes.\n\nSent from my Inbox\nOn Tue, Mar 3, 2026 at 10:15 AM Ann Smith <ann@example.com> wrote:\n> Ready?\n", "Yes."),
        ("it", "Grazie.\n\nDa: Ann Smith <ann@example.com>\nInviato: martedì 3 marzo 2026 10:15\nA: pm@lists.example.org\nOggetto: Re: Domanda\n\nQuando è la riunione?\n", "Grazie."),
        ("kindregards", "Use the template on the wiki.\n\nKind regards,\nDana\n\nFrom: Ann Smith <ann@example.com>\nSent: Tuesday, March 3, 2026 10:15 AM\nTo: pm@lists.example.org\nSubject: Question\n\nWhere is the template?\n", "Use the template on the wiki.\n\nKind regards,\nDana"),
        ("mentionsown", "You can reach me at dana@example.org if needed.\n\nOn Tue, Mar 3, 2026 at 10:15 AM Ann Smith <ann@example.com> wrote:\n> Contact?\n", "You can reach me at dana@example.org if needed."),
        ("nosigdelim", "Let's do it on Friday.\n\nDana Reyes\nProgram Manager\n\n> Ann wrote earlier\n", "Let's do it on Friday.\n\nDana Reyes\nProgram Manager"),
        ("onsecond", "Here is my answer.\n\nOn the other hand, consider the budget: we cannot afford both.\n\nOn Tue, Mar 3, 2026 at 10:15 AM, Ann Smith <ann@example.com> wrote:\n> Which one?\n", "Here is my answer.\n\nOn the other hand, consider the budget: we cannot afford both."),
        ("ptbr", "Obrigado.\n\nDe: Ann Smith <ann@example.com>\nEnviada em: terça-feira, 3 de março de 2026 10:15\nPara: pm@lists.example.org\nAssunto: Re: Pergunta\n\nQuando é a reunião?\n", "Obrigado."),
        ("ptbr_multi", "Sim.\n\nEm ter., 3 de mar. de 2026 às 10:15, Ann Smith <ann@example.com>\nescreveu:\n\n> Pronto?\n", "Sim."),
        ("outlookdesk_fr", "Vendredi.\n\nDe : Ann Smith <ann@example.com>\nEnvoyé : mardi 3 mars 2026 10:15\nÀ : pm@lists.example.org\nObjet : Re: Q\n\nJeudi ou vendredi ?\n", "Vendredi."),
        ("outlookmobile", "Sure, I'll bring it.\n\nGet Outlook for iOS<https://aka.ms/o0ukef>\n________________________________\nFrom: Ann Smith <ann@example.com>\nSent: Tuesday, March 3, 2026 10:15:00 AM\nTo: pm@lists.example.org <pm@lists.example.org>\nSubject: Re: Q\n\nCan you send the deck?\n", "Sure, I'll bring it."),
        ("russian_ios", "Да, в четверг.\n\nОтправлено с iPhone\n\n> 3 марта 2026 г., в 10:15, Ann Smith <ann@example.com> написал(а):\n> \n> Когда встреча?\n", "Да, в четверг."),
        ("samsung", "Yes, please do.\n\nSent from my Galaxy\n\n\n-------- Original message --------\nFrom: Ann <ann@example.com>\nDate: 3/3/26 10:15 (GMT-05:00)\nTo: pm@lists.example.org\nSubject: Re: Q\n\nCan you send the deck?\n", "Yes, please do."),
        ("sigafter", "We moved to two-week sprints last year and never looked back.\n\nBest regards,\nDana Reyes\nProgram Manager | Example Corp\n+1 555 0100\n\nOn Tue, Mar 3, 2026 at 10:15 AM Ann Smith <ann@example.com> wrote:\n> How long are your sprints?\n", "We moved to two-week sprints last year and never looked back.\n\nBest regards,\nDana Reyes\nProgram Manager | Example Corp\n+1 555 0100"),
        ("spanish", "Sí, el jueves.\n\nEl mar, 3 mar 2026 a las 10:15, Ann Smith (<ann@example.com>) escribió:\n\n> ¿Cuándo es la reunión?\n", "Sí, el jueves."),
        ("spark", "Friday is better.\nOn 3 Mar 2026, 10:15 +0100, Ann Smith <ann@example.com>, wrote:\n> Thursday or Friday?\n", "Friday is better."),
        ("sparrow", "We use a RACI chart for that.\n\n--\nAnn Smith\nSent with Sparrow (http://www.sparrowmailapp.com/?sig)\n\nOn Tuesday, March 3, 2026 at 10:15 AM, Bob Jones wrote:\n\n> How do you assign owners?\n", "We use a RACI chart for that."),
        ("sparrow2", "We use a RACI chart for that.\n\nOn Tuesday, 3 March 2026 at 10:15, Bob Jones wrote:\n> How do you assign owners?\n> \n> Bob\n", "We use a RACI chart for that."),
        ("thunderbird", "Friday.\n\nOn 03/03/2026 10:15, Ann Smith wrote:\n> Thursday or Friday?\n", "Friday."),
        ("wrotelonely", "Friday.\n\nAnn Smith <ann@example.com> wrote:\n> Thursday or Friday?\n", "Friday."),
        ("yahoo", "Thursday works.\n\nSent from Yahoo Mail on Android\n\n  On Tue, Mar 3, 2026 at 10:15, Ann Smith<ann@example.com> wrote:   When is the meeting?\n", "Thursday works."),
    ];
    for (client, body, want) in cases {
        assert_eq!(text(body), *want, "{client}");
    }
}

#[test]
fn a_dash_sign_off_ends_with_the_signature() {
    let got = trim_reply("Use the bulk API.\n\n-Ann\n\nOn Mon, 2 Mar 2026 at 09:00, Bob <bob@example.com> wrote:\n> How?\n");
    assert_eq!(got.text, "Use the bulk API.");
    assert!(got.elided.starts_with("-Ann"));
    // A list item, a dash in a sentence, or a lone line are the member's.
    assert_eq!(text("Steps:\n\n- one\n\n- two"), "Steps:\n\n- one\n\n- two");
    assert_eq!(
        text("Try it.\n\n-v prints more: use it"),
        "Try it.\n\n-v prints more: use it"
    );
    assert_eq!(text("-Ann"), "-Ann");
}

#[test]
fn attribution_without_quote_marks_cuts_the_rest() {
    let body =
        "Short answer.\n\nAm 05.01.2023 um 10:00 schrieb Anna <anna@example.de>:\n\nOld mail\n";
    assert_eq!(text(body), "Short answer.");
}

#[test]
fn prose_starting_like_an_attribution_is_kept() {
    let body = "On your server you can run:\n\n    telnet 127.0.0.1 52698\n\nThis should \
                connect (on your Mac, via the tunnel).";
    assert_eq!(text(body), body);
    let body = "On reflection, I think what John said\nmakes sense.";
    assert_eq!(text(body), body);
    let body = "On 5 May the vendor said\nit would ship.\n\nThanks";
    assert_eq!(text(body), body);
}

/// A tiny deterministic PRNG, so failures reproduce.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Fragments that exercise every matcher, plus awkward characters.
const PIECES: &[&str] = &[
    "\n",
    "\r\n",
    "\r",
    " ",
    "\t",
    "\u{a0}",
    ">",
    "> ",
    "| ",
    "-- ",
    "---",
    "-",
    "*",
    "```",
    "On ",
    " wrote:",
    "Am ",
    " schrieb ",
    "Le ",
    " a écrit :",
    "Op ",
    " schreef ",
    "Den ",
    " skrev ",
    "2016",
    "12:34",
    "<",
    "@",
    "ann@example.org",
    "From: x",
    "Sent: 2016",
    "To: y",
    "-----Original Message-----",
    "Sent from my iPhone",
    "写道：",
    "在 ",
    "napisał(a):",
    "пише:",
    "ł",
    "é",
    "ß",
    "😀",
    "&amp;",
    "&#",
    "<br>",
    "<blockquote>",
    "</blockquote>",
    "<a href=\"http://x\">",
    "</a>",
    "<pre>",
    "</pre>",
    "<!--",
    "-->",
    "<style>",
    "<li>",
    "<<<<",
    ">>>>",
    ">>> a >>>",
    "<<< a <<<",
    "Richard> ",
    "text",
    "word ",
    "via ",
    "Posted by ",
    "-----BEGIN PGP SIGNATURE-----",
    "-----END PGP SIGNATURE-----",
    "Unsubscribe: a@b.c",
];

fn random_input(rng: &mut XorShift) -> String {
    let mut s = String::new();
    for _ in 0..rng.below(80) {
        s.push_str(PIECES[rng.below(PIECES.len())]);
    }
    // Cut at a random character boundary, as truncated mail would be.
    let cut = s.char_indices().map(|(i, _)| i).nth(rng.below(s.len() + 1));
    s.truncate(cut.unwrap_or(s.len()));
    s
}

/// Every line of `text`, minus quote markers, must come from the input.
fn assert_subset(input: &str, got: &Trimmed) {
    let input_lf = input.replace("\r\n", "\n").replace('\r', "\n");
    assert!(
        got.text.len() <= input.len(),
        "text longer than input: {input:?}"
    );
    assert_eq!(got.text, got.text.trim(), "text not trimmed: {input:?}");
    for line in got.text.lines() {
        let core = line
            .trim_start_matches(|c: char| c == '>' || c == '|' || c.is_whitespace())
            .trim_end();
        assert!(input_lf.contains(core), "{core:?} not from input {input:?}");
    }
}

#[test]
fn fuzz_never_panics_and_only_returns_input_text() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for _ in 0..4000 {
        let input = random_input(&mut rng);
        assert_subset(&input, &trim_reply(&input));
        let html = html_to_text(&input);
        let _ = trim_reply(&html);
    }
}

#[test]
fn pathological_inputs_stay_fast() {
    let cases = [
        ">".repeat(100_000),
        "On ".repeat(30_000),
        "On 2016 ".repeat(10_000) + "wrote:",
        "2016 <".repeat(20_000),
        "a@b.co ".repeat(20_000) + " wrote:",
        "<a ".repeat(30_000),
        "&#".repeat(50_000),
        "<blockquote>".repeat(10_000),
        "On 1 Jan 2016\n".repeat(20_000),
        "x\n".repeat(50_000) + "```",
    ];
    for input in &cases {
        let started = Instant::now();
        assert_subset(input, &trim_reply(input));
        let _ = html_to_text(input);
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(5),
            "took {took:?} on {:?}…",
            &input[..20]
        );
    }
}
