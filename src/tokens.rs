//! Compact, unforgeable tokens for sub-addresses and links.
//!
//! A token is lowercase base32 of `varint ids ‖ HMAC-SHA256(key, purpose ‖ ids)[..10]`.
//! Two small ids and an 80-bit tag fit in 18 to 30 characters, so
//! `pm+reply-<token>@` stays far below the 64-octet local-part limit of
//! RFC 5321. Verification is constant-time (`hmac`'s `verify_truncated_left`).

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

const TAG_LEN: usize = 10;
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// What a token may be used for; part of the MAC so a token for one purpose
/// never verifies for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Confirm = 1,
    Reply = 2,
    Bounce = 3,
    Unsubscribe = 4,
    /// Our own Message-IDs, so a report quoting one proves we sent it.
    MessageId = 5,
    /// One-time sign-in links for editors: (link id, nonce).
    SignIn = 6,
    /// An editor's reply address that approves a held post.
    Approve = 7,
    /// An editor's reply address that rejects a held post.
    Reject = 8,
    /// The link that turns mail back on for a member disabled by bounces.
    Reactivate = 9,
}

/// The secret shared by every worker (kept in the database's settings).
#[derive(Clone)]
pub struct TokenKey(Vec<u8>);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

impl TokenKey {
    pub fn new(secret: &[u8]) -> Self {
        TokenKey(secret.to_vec())
    }

    fn mac(&self, purpose: Purpose, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(&[purpose as u8]);
        mac.update(payload);
        mac
    }

    pub fn sign(&self, purpose: Purpose, ids: &[i64]) -> String {
        let mut bytes = Vec::with_capacity(ids.len() * 3 + TAG_LEN);
        for &id in ids {
            put_varint(&mut bytes, id as u64);
        }
        let tag = self.mac(purpose, &bytes).finalize().into_bytes();
        bytes.extend_from_slice(&tag[..TAG_LEN]);
        base32_encode(&bytes)
    }

    /// The ids inside a valid token with exactly `count` ids, or `None` for a
    /// forged, truncated or foreign token.
    pub fn verify(&self, purpose: Purpose, token: &str, count: usize) -> Option<Vec<i64>> {
        self.verify_ids(purpose, token)
            .filter(|ids| ids.len() == count)
    }

    /// A reply address's token (see [`ReplyToken`]).
    pub fn sign_reply(&self, question_id: i64, member_id: i64, issued_ms: i64) -> String {
        let day = (issued_ms - DAY_EPOCH_MS).max(0) / DAY_MS;
        self.sign(Purpose::Reply, &[question_id, member_id, day])
    }

    /// The reply token `token`, if we made it: with its issue day, or
    /// without one when an earlier version made it.
    pub fn verify_reply(&self, token: &str) -> Option<ReplyToken> {
        match self.verify_ids(Purpose::Reply, token)?[..] {
            [question_id, member_id, day] => Some(ReplyToken {
                question_id,
                member_id,
                issued_ms: Some(DAY_EPOCH_MS + day * DAY_MS),
            }),
            [question_id, member_id] => Some(ReplyToken {
                question_id,
                member_id,
                issued_ms: None,
            }),
            _ => None,
        }
    }

    /// The ids inside a valid token, however many.
    fn verify_ids(&self, purpose: Purpose, token: &str) -> Option<Vec<i64>> {
        let bytes = base32_decode(token)?;
        if bytes.len() <= TAG_LEN {
            return None;
        }
        let (payload, tag) = bytes.split_at(bytes.len() - TAG_LEN);
        self.mac(purpose, payload).verify_truncated_left(tag).ok()?;
        let mut ids = Vec::with_capacity(3);
        let mut rest = payload;
        while !rest.is_empty() {
            let (v, used) = get_varint(rest)?;
            ids.push(i64::try_from(v).ok()?);
            rest = &rest[used..];
        }
        Some(ids)
    }
}

/// Issue days count from 2024-01-01, so a day fits in two bytes of the
/// token until 2068.
const DAY_EPOCH_MS: i64 = 1_704_067_200_000;
const DAY_MS: i64 = 86_400_000;

/// What a `+reply-<token>` address says: the question, the member it was
/// made for, and the day it was made (UTC), so that it can expire. Tokens
/// made before they carried a day have none; the question's age stands in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyToken {
    pub question_id: i64,
    pub member_id: i64,
    /// The start of the day the token was made.
    pub issued_ms: Option<i64>,
}

impl ReplyToken {
    /// Whether the token is older than `max_age_ms` at `now`; a token
    /// without a day is as old as its question (`asked_ms`).
    pub fn expired(&self, asked_ms: i64, max_age_ms: i64, now: i64) -> bool {
        // A day's tokens all count from its end: never early.
        let issued = match self.issued_ms {
            Some(day) => day + DAY_MS,
            None => asked_ms,
        };
        now - issued > max_age_ms
    }
}

/// SHA-256 of `data` as lowercase hex: a fixed-size key for text of any
/// length (dedupe keys, digests of secrets).
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut v: u64 = 0;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Case-insensitive because some MTAs change the case of local parts.
fn base32_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() > 64 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c.to_ascii_lowercase())? as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    // The last character's spare bits must be zero, as `base32_encode`
    // writes them: otherwise several spellings of one token would verify.
    (bits < 5 && buffer & ((1 << bits) - 1) == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_stays_compact() {
        let key = TokenKey::new(b"secret");
        let t = key.sign(Purpose::Reply, &[123_456, 9_876_543]);
        assert!(t.len() <= 30, "{t}");
        assert!(t.bytes().all(|b| ALPHABET.contains(&b)));
        assert_eq!(
            key.verify(Purpose::Reply, &t, 2),
            Some(vec![123_456, 9_876_543])
        );
        assert_eq!(
            key.verify(Purpose::Reply, &t.to_uppercase(), 2),
            Some(vec![123_456, 9_876_543])
        );
        assert!(format!("pm+reply-{t}").len() <= 64);
    }

    #[test]
    fn reply_tokens_carry_their_day_and_stay_compact() {
        let key = TokenKey::new(b"secret");
        let day = 86_400_000;
        let now = 1_780_000_000_000; // 2026
        let t = key.sign_reply(123_456, 9_876_543, now);
        // Question and member ids up to millions, a day in two bytes:
        // `pm+reply-<token>` stays within a 64-octet local part with room
        // for the list's name.
        assert!(t.len() <= 34, "{t} is {} characters", t.len());
        let r = key.verify_reply(&t).unwrap();
        assert_eq!((r.question_id, r.member_id), (123_456, 9_876_543));
        let issued = r.issued_ms.unwrap();
        assert!(issued <= now && now - issued < day, "{issued} vs {now}");
        let year = 365 * day;
        assert!(!r.expired(0, year, now + year - day));
        assert!(r.expired(0, year, now + year + 2 * day));
        // A token from before tokens carried a day: as old as its question.
        let old = key.sign(Purpose::Reply, &[7, 8]);
        let r = key.verify_reply(&old).unwrap();
        assert_eq!((r.question_id, r.member_id, r.issued_ms), (7, 8, None));
        assert!(!r.expired(now - 10 * day, year, now));
        assert!(r.expired(now - 400 * day, year, now));
        // Other purposes and other counts are not reply tokens.
        assert_eq!(
            key.verify_reply(&key.sign(Purpose::Confirm, &[7, 8, 9])),
            None
        );
        assert_eq!(key.verify_reply(&key.sign(Purpose::Reply, &[7])), None);
    }

    #[test]
    fn rejects_forgeries() {
        let key = TokenKey::new(b"secret");
        let t = key.sign(Purpose::Reply, &[1, 2]);
        assert_eq!(key.verify(Purpose::Unsubscribe, &t, 2), None);
        assert_eq!(key.verify(Purpose::Reply, &t, 1), None);
        assert_eq!(TokenKey::new(b"other").verify(Purpose::Reply, &t, 2), None);
        let mut chars: Vec<char> = t.chars().collect();
        chars[0] = if chars[0] == 'a' { 'b' } else { 'a' };
        let tampered: String = chars.into_iter().collect();
        assert_eq!(key.verify(Purpose::Reply, &tampered, 2), None);
        // Only the canonical spelling verifies: a last character whose
        // spare bits differ decodes to the same bytes, and is refused.
        let last = t.chars().last().unwrap();
        let pos = ALPHABET.iter().position(|&a| a as char == last).unwrap();
        let twin: String = t[..t.len() - 1].to_string() + &(ALPHABET[pos ^ 1] as char).to_string();
        assert_eq!(key.verify(Purpose::Reply, &twin, 2), None, "{t} vs {twin}");
        for junk in ["", "a", "!!!", &t[..t.len() - 2], &"a".repeat(100)] {
            assert_eq!(key.verify(Purpose::Reply, junk, 2), None, "{junk}");
        }
    }
}
