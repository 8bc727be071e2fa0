//! Every parser that reads outside input, fed random and near-valid input
//! from a seeded generator (failures reproduce): crontab schedules and
//! time zones, sub-address routing, email addresses, reply tokens, and
//! text wrapping. None may panic, and each keeps its promise: a schedule
//! that parses fires in the future, only signed tokens verify, an address
//! that parses routes back, wrapping keeps every word and its width.

use gazette::address::{Command, ListAddress};
use gazette::digest::schedule::{parse_timezone, Schedule};
use gazette::email::EmailAddress;
use gazette::outbound::text::wrap;
use gazette::tokens::{Purpose, TokenKey};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const ROUNDS: usize = 4000;

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// A string of `len` characters drawn from `alphabet`.
fn pick(r: &mut StdRng, alphabet: &[&str], len: usize) -> String {
    (0..len)
        .map(|_| alphabet[r.random_range(0..alphabet.len())])
        .collect()
}

#[test]
fn crontab_schedules() {
    let mut r = rng(1);
    let atoms = [
        "*", "*/", "0", "1", "5", "7", "12", "23", "31", "59", "60", "-", ",", "/", "MON", "sun",
        "JAN", "dec", "L", "?", "#", " ", "  ", "x", "\u{e9}",
    ];
    let zones = [
        "UTC",
        "Europe/Paris",
        "America/New_York",
        "Asia/Kolkata",
        "Nowhere/City",
        "",
    ];
    let now = chrono::Utc::now();
    // Fields in crontab's own shapes, with junk mixed in now and then.
    let shapes = |r: &mut StdRng| -> String {
        // Mostly in range for every field, sometimes not.
        let n = |r: &mut StdRng| {
            let top = [8, 13, 62][r.random_range(0..3)];
            r.random_range(0..top).to_string()
        };
        match r.random_range(0..8) {
            0 => "*".into(),
            1 => format!("*/{}", n(r)),
            2 => n(r),
            3 => format!("{}-{}", n(r), n(r)),
            4 => format!("{},{}", n(r), n(r)),
            5 => ["MON", "fri", "SUN-SAT", "JAN", "dec", "7"][r.random_range(0..6)].into(),
            6 => format!("{}-{}/{}", n(r), n(r), n(r)),
            _ => {
                let len = r.random_range(1..4);
                pick(r, &atoms, len)
            }
        }
    };
    let mut parsed = 0;
    for _ in 0..ROUNDS {
        let fields = match r.random_range(0..10) {
            0..=6 => 5,
            7 => 6,
            _ => r.random_range(0..9),
        };
        let expr: Vec<String> = (0..fields).map(|_| shapes(&mut r)).collect();
        let expr = expr.join(" ");
        let zone = zones[r.random_range(0..zones.len())];
        let (Ok(s), Ok(tz)) = (Schedule::parse(&expr), parse_timezone(zone)) else {
            continue;
        };
        parsed += 1;
        if let Some(next) = s.next_after(now, tz) {
            assert!(next > now, "`{expr}` in {zone} fired in the past: {next}");
        }
    }
    assert!(
        parsed > 50,
        "the generator makes some valid schedules ({parsed})"
    );
}

#[test]
fn addresses_and_routing() {
    let mut r = rng(2);
    let atoms = [
        "pm",
        "+",
        "-",
        "reply",
        "confirm",
        "bounce",
        "subscribe",
        "@",
        "lists.example.org",
        ".",
        "..",
        "a",
        "Z",
        "0",
        "\"",
        " ",
        "<",
        ">",
        "\u{0}",
        "\u{fc}",
        "postmaster",
    ];
    let list = ListAddress::parse("pm@lists.example.org", '+').unwrap();
    for _ in 0..ROUNDS {
        let len = r.random_range(0..10);
        let s = pick(&mut r, &atoms, len);
        if let Ok(e) = EmailAddress::parse(&s) {
            assert!(e.local_part().len() <= 64, "{s:?}");
            assert_eq!(e.key(), e.as_str().to_lowercase());
            assert!(!e.as_str().contains(char::is_whitespace), "{s:?}");
        }
        if let Some(cmd) = list.route(&s) {
            if !matches!(cmd, Command::Operator(_)) {
                assert_eq!(list.route(&list.for_command(&cmd)), Some(cmd), "{s:?}");
            }
        }
    }
}

#[test]
fn tokens_verify_only_when_signed() {
    let mut r = rng(3);
    let key = TokenKey::new(b"fuzz secret");
    let alphabet: Vec<String> = "abcdefghijklmnopqrstuvwxyz234567ABC01!-"
        .chars()
        .map(String::from)
        .collect();
    let alphabet: Vec<&str> = alphabet.iter().map(String::as_str).collect();
    for _ in 0..ROUNDS {
        let len = r.random_range(0..40);
        let junk = pick(&mut r, &alphabet, len);
        for count in 1..=2 {
            assert_eq!(key.verify(Purpose::Reply, &junk, count), None, "{junk}");
        }
        let ids = [r.random_range(0..i64::MAX), r.random_range(0..1_000_000)];
        let t = key.sign(Purpose::Reply, &ids);
        assert!(format!("pm+reply-{t}").len() <= 64, "{t}");
        assert_eq!(key.verify(Purpose::Reply, &t, 2), Some(ids.to_vec()));
        // One flipped character never verifies.
        let mut chars: Vec<char> = t.chars().collect();
        let i = r.random_range(0..chars.len());
        chars[i] = if chars[i] == 'a' { 'b' } else { 'a' };
        let flipped: String = chars.into_iter().collect();
        assert_eq!(
            key.verify(Purpose::Reply, &flipped, 2),
            None,
            "{t} -> {flipped}"
        );
    }
}

#[test]
fn wrapping_keeps_words_and_width() {
    let mut r = rng(4);
    let atoms = [
        "word ",
        "a ",
        "longerword ",
        "\n",
        "\n\n",
        "> quoted ",
        "  indented ",
        "- item ",
        "1. ",
        "https://example.org/a/very/long/path/that/cannot/be/broken/anywhere/at/all ",
        "\u{e9}t\u{e9} ",
        "\t",
        " ",
        "\r\n",
    ];
    for _ in 0..ROUNDS / 4 {
        let len = r.random_range(0..80);
        let text = pick(&mut r, &atoms, len);
        for indent in ["", "   ", "   | "] {
            let out = wrap(&text, 72, indent);
            let words = |s: &str| {
                let mut w: Vec<String> = s
                    .split_whitespace()
                    .filter(|w| *w != "|")
                    .map(String::from)
                    .collect();
                w.sort();
                w
            };
            assert_eq!(
                words(&out),
                words(&text),
                "words lost or added:\n{text:?}\n{out}"
            );
            for line in out.lines() {
                let over = line.chars().count() > 72;
                // Kept as written: quoted or indented lines, and lone words.
                let original = line.strip_prefix(indent).unwrap_or(line);
                let preformatted = original.starts_with(['>', ' ', '\t'])
                    || original.split_whitespace().filter(|w| *w != "|").count() <= 1;
                assert!(
                    !over || preformatted,
                    "line over 72: {line:?}\nfrom {text:?}"
                );
            }
        }
    }
}
