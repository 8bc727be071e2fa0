//! `classify_raw` never panics: random bytes, messages stitched together
//! from the fragments reports are made of, and truncated or bit-flipped
//! copies of the bounce corpus (when `../shared/corpora` is present).
//! Deterministic: a fixed-seed xorshift, so a failure reproduces.

use gazette::inbound::classify::classify_raw;

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn must_not_panic(what: &str, raw: &[u8]) {
    let envelope = if raw.len().is_multiple_of(3) {
        Some("")
    } else {
        None
    };
    if std::panic::catch_unwind(|| classify_raw(raw, envelope)).is_err() {
        panic!(
            "classify_raw panicked on {what}: {:?}",
            String::from_utf8_lossy(raw)
        );
    }
}

#[test]
fn random_bytes() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for i in 0..2000 {
        let len = rng.below(600);
        let raw: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        must_not_panic(&format!("random input {i}"), &raw);
    }
}

/// Pieces of DSNs, ARF reports, SES notices and auto-replies, including
/// broken ones, so random messages reach the classifier's deeper paths.
const FRAGMENTS: &[&str] = &[
    "From: MAILER-DAEMON <>\n",
    "From: postmaster@example.net\n",
    "Subject: Undelivered Mail Returned to Sender\n",
    "Subject: Automatic reply: x\n",
    "Auto-Submitted: auto-replied\n",
    "X-Failed-Recipients: a@b.example, ,@,\n",
    "Return-Path: <>\n",
    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n",
    "Content-Type: multipart/report; report-type=feedback-report; boundary=b\n",
    "Content-Type: message/delivery-status\n",
    "Content-Type: message/global-delivery-status\n",
    "Content-Type: message/feedback-report\n",
    "Content-Type: message/rfc822\n",
    "Content-Type: text/rfc822-headers\n",
    "Content-Transfer-Encoding: base64\n",
    "Content-Transfer-Encoding: quoted-printable\n",
    "\n",
    "--b\n",
    "--b--\n",
    "Final-Recipient: rfc822; <a@b.example>\n",
    "Final-Recipient: ;\n",
    "Original-Recipient: rfc822;\n",
    "Action: failed\n",
    "Action:\n",
    "Status: 5.1.1\n",
    "Status: 4.\n",
    "Diagnostic-Code: smtp; 550 5.1.1 user unknown\n",
    "Diagnostic-Code: ;\n",
    "Feedback-Type: abuse\n",
    "Original-Rcpt-To: <>\n",
    "<a@b.example>:\n",
    "  a@\n",
    "@b.example\n",
    "550 <x@y.example>... User unknown\n",
    "--- Below this line is a copy of the message.\n",
    "Received: from x\n\tby y\n",
    "{\"notificationType\":\"Bounce\",\"bounce\":{\"bouncedRecipients\":[{}]}}\n",
    "{\"Message\":\"{\\\"notificationType\\\":\\\"Complaint\\\"}\"}\n",
    "=?utf-8?B?8J+QiA==?=\n",
    "\r\n",
    "\r",
    "５５０ ５.１.１ 宛先不明\n",
];

#[test]
fn stitched_reports() {
    let mut rng = XorShift(0xD1B5_4A32_D192_ED03);
    for i in 0..3000 {
        let mut raw = String::new();
        for _ in 0..rng.below(30) {
            raw.push_str(FRAGMENTS[rng.below(FRAGMENTS.len())]);
        }
        must_not_panic(&format!("stitched input {i}"), raw.as_bytes());
    }
}

#[test]
fn mangled_corpus_files() {
    let Some(corpus) = crate::common::corpus("sisimai-set-of-emails") else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(corpus.join("maildir/bsd")) else {
        panic!("{} has no maildir/bsd", corpus.display());
    };
    let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    for path in paths {
        let raw = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for _ in 0..3 {
            let cut = rng.below(raw.len() + 1);
            must_not_panic(&format!("{name} cut at {cut}"), &raw[..cut]);
        }
        let mut flipped = raw.clone();
        for _ in 0..1 + rng.below(8) {
            let at = rng.below(flipped.len());
            if let Some(b) = flipped.get_mut(at) {
                *b ^= 1 << rng.below(8);
            }
        }
        must_not_panic(&format!("{name} with flipped bits"), &flipped);
    }
}
