//! What gazette promises about any input at all, checked by the fuzz
//! targets in `fuzz/fuzz_targets/` (coverage-guided, with cargo-fuzz) and
//! by the property tests of `tests/it/fuzz_properties.rs` (within `cargo
//! test`): a violated promise panics.

use gazette::inbound::classify::{classify, parse_message, Classification};
use gazette::inbound::explain::{explain, Recipient};
use gazette::trim::{html_to_text, trim_reply, Trimmed};

/// Any bytes as an inbound message: parsing and classifying never panic
/// (with and without the null envelope sender), and `gazette inspect`'s
/// answer is valid JSON with a known class, at least one reason, the
/// fields its class promises, and recipients taken from the message.
pub fn message(data: &[u8]) {
    if let Some(parsed) = parse_message(data) {
        for sender in [None, Some(""), Some("ann@example.org")] {
            if let Classification::Bounce(report) = classify(&parsed, sender) {
                assert!(
                    !report.recipients.is_empty(),
                    "a bounce names a recipient, even unknown"
                );
            }
        }
    }
    let e = explain(data, None);
    assert!(
        ["ordinary", "auto_reply", "bounce", "delayed", "complaint"].contains(&e.class),
        "class {}",
        e.class
    );
    assert!(!e.reasons.is_empty(), "no reason given");
    let json = serde_json::to_string(&e).expect("the explanation serialises");
    let back: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    assert_eq!(back["class"], e.class);
    match e.class {
        "ordinary" => assert!(e.reply_text.is_some() && e.elided.is_some()),
        "bounce" | "delayed" => {
            for r in e.recipients.iter().flatten() {
                let Recipient::Bounced {
                    address, status, ..
                } = r
                else {
                    panic!("a bounce recipient without a status: {r:?}");
                };
                if let Some(a) = address {
                    assert!(a.contains('@'), "recipient {a:?} is not an address");
                }
                if let Some(s) = status {
                    assert!(s.starts_with(['2', '4', '5']), "status {s:?}");
                }
            }
        }
        _ => {}
    }
}

/// Any text as a reply body: trimming never panics and invents nothing:
/// every line it keeps comes from the input, every word it elides too
/// (quote markers are rewritten, wrapped attributions joined), and the kept text
/// is trimmed and no longer than the input. The same text as HTML goes
/// through `html_to_text` and the trimmer too.
pub fn reply(text: &str) {
    let got = trim_reply(text);
    from_input(text, &got);
    let _ = trim_reply(&html_to_text(text));
}

fn from_input(input: &str, got: &Trimmed) {
    let input_lf = input.replace("\r\n", "\n").replace('\r', "\n");
    assert!(got.text.len() <= input.len(), "text longer than input");
    assert_eq!(got.text, got.text.trim(), "text not trimmed");
    for line in got.text.lines() {
        let core = line
            .trim_start_matches(|c: char| c == '>' || c == '|' || c.is_whitespace())
            .trim_end();
        assert!(input_lf.contains(core), "{core:?} is not from the input");
    }
    // Quote markers are rewritten and wrapped attributions joined, so the
    // elided text is checked word piece by word piece.
    for piece in got.elided.split(|c: char| !c.is_alphanumeric()) {
        assert!(
            input_lf.contains(piece),
            "elided {piece:?} is not from the input"
        );
    }
}
