//! The fuzz targets' properties (`fuzz/checks.rs`) inside `cargo test`,
//! bounded in time: proptest generates messages from the pieces reports
//! and replies are made of, random bytes, and mutations (cuts, byte flips,
//! splices) of the committed seeds in `fuzz/seeds/`, shrinking any failure
//! to a small case. Every seed, and every input cargo-fuzz found and
//! committed there, is replayed as is. Coverage-guided runs use the same
//! checks: `cargo fuzz run -s none message` (see README).

#[path = "../../fuzz/checks.rs"]
mod checks;

use proptest::prelude::*;
use std::path::Path;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

/// Lines reports and replies are made of, well formed and broken.
const PIECES: &[&str] = &[
    "From: MAILER-DAEMON@mx.example.net\n",
    "From: Ann <ann@example.com>\n",
    "Return-Path: <>\n",
    "Subject: Undelivered Mail Returned to Sender\n",
    "Subject: Automatic reply: digest\n",
    "Auto-Submitted: auto-replied\n",
    "X-Failed-Recipients: a@b.example, ,@,\n",
    "MIME-Version: 1.0\n",
    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n",
    "Content-Type: multipart/report; report-type=feedback-report; boundary=b\n",
    "Content-Type: text/html; charset=utf-8\n",
    "Content-Transfer-Encoding: quoted-printable\n",
    "\n",
    "--b\n",
    "--b--\n",
    "Content-Type: message/delivery-status\n",
    "Content-Type: message/rfc822\n",
    "Content-Type: message/feedback-report\n",
    "Final-Recipient: rfc822; bob@example.net\n",
    "Final-Recipient: LOCAL;jdoe\n",
    "Original-Recipient: rfc822;\n",
    "Action: failed\n",
    "Action: delayed\n",
    "Status: 5.1.1\n",
    "Status: 4.4.7\n",
    "Status: 9.9\n",
    "Diagnostic-Code: smtp; 550 5.1.1 <bob@example.net>: user unknown\n",
    "Diagnostic-Code: x-unix; \n",
    "Feedback-Type: abuse\n",
    "Original-Rcpt-To: <dan@example.net>\n",
    "<gone@example.net>:\n",
    "  jdoe@example.com\n",
    "    SMTP error from remote mail server after RCPT TO:<jdoe@example.com>:\n",
    ">>> RCPT To:<x@y.example>\n",
    "<<< 550 5.1.1 User unknown\n",
    "--- Below this line is a copy of the message.\n",
    "----- Original message -----\n",
    "This is a permanent error; I've given up.\n",
    "Delivery to the following recipient has been delayed:\n",
    "On Mon, 2 Mar 2026 at 09:00, Bob <bob@example.com> wrote:\n",
    "> quoted\n",
    ">\n",
    "-- \n",
    "Sent from my iPhone\n",
    "From: Bob <bob@example.com>\nSent: Monday\nTo: pm@lists.example.org\nSubject: Q\n",
    "Thanks, that works.\n",
    "<blockquote>q</blockquote>\n",
    "=E9=\n",
    "\u{e9}t\u{e9} \u{2014} \u{65e5}\u{672c}\n",
    "\r\n",
    "\r",
    "\0",
    "",
];

/// A message or body stitched from [`PIECES`] and random bytes.
fn stitched() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            8 => prop::sample::select(PIECES).prop_map(|p| p.as_bytes().to_vec()),
            1 => prop::collection::vec(any::<u8>(), 0..24),
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

/// A seed cut, with some bytes overwritten and a splice of another.
fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let n = seeds.len();
    (
        0..n,
        0..n,
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
    )
        .prop_map(move |(a, b, cut, splice, flips)| {
            let (a, b) = (&seeds[a], &seeds[b]);
            let mut out = a[..cut.index(a.len() + 1)].to_vec();
            out.extend_from_slice(&b[splice.index(b.len() + 1)..]);
            for (at, byte) in flips {
                if !out.is_empty() {
                    let i = at.index(out.len());
                    out[i] = byte;
                }
            }
            out
        })
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 1000,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

#[test]
fn seeds_replay_as_they_are() {
    for raw in seeds("message") {
        checks::message(&raw);
    }
    for raw in seeds("reply") {
        checks::reply(&String::from_utf8_lossy(&raw));
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_stitched_message(raw in stitched()) {
        checks::message(&raw);
    }

    #[test]
    fn any_bytes_as_a_message(raw in prop::collection::vec(any::<u8>(), 0..600)) {
        checks::message(&raw);
    }

    #[test]
    fn mutated_seed_messages(raw in mutated(seeds("message"))) {
        checks::message(&raw);
    }

    #[test]
    fn any_stitched_reply(raw in stitched()) {
        checks::reply(&String::from_utf8_lossy(&raw));
    }

    #[test]
    fn mutated_seed_replies(raw in mutated(seeds("reply"))) {
        checks::reply(&String::from_utf8_lossy(&raw));
    }
}
