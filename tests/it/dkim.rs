//! DKIM signing: every message the delivery workers send carries a
//! DKIM-Signature that covers the RFC 8058 unsubscribe headers and verifies
//! with mail-auth's own verifier against the published key (a DNS cache
//! stands in for DNS); tampering breaks it; the Ed25519 key signs through the
//! file transport; a key gazette cannot use stops start-up, naming
//! GAZETTE_DKIM_KEY.

use crate::common::*;
use gazette::app::Ctx;
use gazette::digest::send::send_now;
use gazette::outbound::dkim::Dkim;
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::{
    AuthenticatedMessage, DkimResult, MessageAuthenticator, Parameters, ResolverCache, Txt,
};
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A 2048-bit RSA test key (`openssl genrsa -traditional 2048`), PKCS#1.
/// ring signs with RSA keys of 2048 bits and up, so no smaller one will do.
const RSA_PKCS1: &str = "\
-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEA4AESYfvEhbaXNb789X6X6i7oKpAUUZ742RmV765gxvKeQaT0
8Ru0CjSWywP3pFpH5wY+jv7nsRT2LKvGXpuNKIV7PAyf9N0fsEUIz9iRRmzS+8DQ
pppX+Kkl4ydGgQiiHJsJqzq2qJtOjJd/+7+XToWTICuL4Zln5pwpEklgscBm4Jzn
WjgABpZhxUy4DDBMPKbgqBsTVQBk2oz3kqaDH7gFHjplKBKhSSh8GenE7r8eQcaz
nMmRriYtrkH/oCSonc6CJyN4zOM3HXqKlkabVG1hbnLHUL5cZ+8UJQopRDbIfakj
BPZQvIZh9tD+m/SifgHklFfOVaL6+zYLGNybEQIDAQABAoIBAAP9DOWnRXKLHykF
6qwq/pKBjY6cT9Ep388vpH5JKDuVehRJm6332crVOfzpKAxjfH2nzpyHYG0x/PpZ
iUj7/s6Zc/v6Ce1wdCPUbf0l2kB9Y06u7IS6nNfGatB6lrVyWfWX97/WYYZ4xnRu
k1st1d87kT2e/N/JMdCbc4gel1GBK1IVqo0KYNGOuNcEt4vD3KEuCnsE/SXpKF7p
pp3k6p9ocxwp6ldXM5+b9OCqVcY2FTyXbJflAIbhouw0apVdZmNpdJ4TvPRlLKS+
CZn2jyKGz/UIBcVGQhIC+YugqqzSUD8FFOU4bqDU6DEXQZdH14KGyMMZwpYZokK6
2od4Z2kCgYEA82fmNC6rAI5tu+HRFIPMZg4VwWvQbAzAUDB4rx+37tfs50rlQ0iD
+m+Ed5AzqkYM1S7+Ul45DuFCx5pUs8Pg+NgRPm1huAPvbnXIwg3aB5ij2en2GHEl
/IfgecGagl24CJbgHWQ0A7SJpxrBaejtEbzsPC4hj8G0xTzrI4JahCkCgYEA65gu
qyYM58pHAAqTUGgGKuDzRLaTpcnEk7fwTjyuqiXD8YVGFHxWAAkTjp/Uhn+4Bzpm
nrgZ5aFhIeB4UlxRJ4mxrYYJqBdBXcNxIY0cC8qfcFojjinQkAyE5ofqtMxqIuQz
wi0Lh5FuOldMenqbrNUwB7UGL6C4UsFXwZFL/KkCgYEAljAH1S7uiLtZblKZ5eSl
HFuYhO53fhQoHdKqxLP3lEJbhSOrbuaxuLdSr0uk9W2fwXLrrftBjbLkt7C8judQ
S3tWuIRZhWe4NxoqM8LEQ2elwnIgTViTrcxRcA9LvSECyxn9U2VeyuJ9BUT3DtiQ
Xx+JTGDSiJdnaUR7ej+WhnECgYB5E9gAK2j8gs9kbQryitOIm91KFg7haEV3qVN9
0d/uH8SIznaKtq+4CvIbHXcqvF7GkDQHJBRjGEIEGAmeQkWO7Uv8IuO5mGIGnxf4
Jz4frT2tjxWwzTqbnWN72qQ70MZHMkKLa3z+ajZdE1qBo5t4AoRRoa4RMicomKbS
GysTKQKBgBAmvgXne3k1t6h/fmnISynlY6pzOH7dmJ2s59/VVz8G34Sc1PF+8PTS
1JPeKoWFdDPa5gYRhAPaRBiQkZ8biLhSHVqKvbAK+5pVcGMwLkSOCIp6gdifO4EA
bB+DkGpBX8HcNrdaKyrWKpRi0+y+6Gr3teCfeShLWgK3GkimjwlP
-----END RSA PRIVATE KEY-----
";

/// The same key as PKCS#8 (`openssl pkcs8 -topk8 -nocrypt`).
const RSA_PKCS8: &str = "\
-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDgARJh+8SFtpc1
vvz1fpfqLugqkBRRnvjZGZXvrmDG8p5BpPTxG7QKNJbLA/ekWkfnBj6O/uexFPYs
q8Zem40ohXs8DJ/03R+wRQjP2JFGbNL7wNCmmlf4qSXjJ0aBCKIcmwmrOraom06M
l3/7v5dOhZMgK4vhmWfmnCkSSWCxwGbgnOdaOAAGlmHFTLgMMEw8puCoGxNVAGTa
jPeSpoMfuAUeOmUoEqFJKHwZ6cTuvx5BxrOcyZGuJi2uQf+gJKidzoInI3jM4zcd
eoqWRptUbWFucsdQvlxn7xQlCilENsh9qSME9lC8hmH20P6b9KJ+AeSUV85Vovr7
NgsY3JsRAgMBAAECggEAA/0M5adFcosfKQXqrCr+koGNjpxP0Snfzy+kfkkoO5V6
FEmbrffZytU5/OkoDGN8fafOnIdgbTH8+lmJSPv+zplz+/oJ7XB0I9Rt/SXaQH1j
Tq7shLqc18Zq0HqWtXJZ9Zf3v9ZhhnjGdG6TWy3V3zuRPZ7838kx0JtziB6XUYEr
UhWqjQpg0Y641wS3i8PcoS4KewT9JekoXummneTqn2hzHCnqV1czn5v04KpVxjYV
PJdsl+UAhuGi7DRqlV1mY2l0nhO89GUspL4JmfaPIobP9QgFxUZCEgL5i6CqrNJQ
PwUU5ThuoNToMRdBl0fXgobIwxnClhmiQrrah3hnaQKBgQDzZ+Y0LqsAjm274dEU
g8xmDhXBa9BsDMBQMHivH7fu1+znSuVDSIP6b4R3kDOqRgzVLv5SXjkO4ULHmlSz
w+D42BE+bWG4A+9udcjCDdoHmKPZ6fYYcSX8h+B5wZqCXbgIluAdZDQDtImnGsFp
6O0RvOw8LiGPwbTFPOsjglqEKQKBgQDrmC6rJgznykcACpNQaAYq4PNEtpOlycST
t/BOPK6qJcPxhUYUfFYACROOn9SGf7gHOmaeuBnloWEh4HhSXFEnibGthgmoF0Fd
w3EhjRwLyp9wWiOOKdCQDITmh+q0zGoi5DPCLQuHkW46V0x6epus1TAHtQYvoLhS
wVfBkUv8qQKBgQCWMAfVLu6Iu1luUpnl5KUcW5iE7nd+FCgd0qrEs/eUQluFI6tu
5rG4t1KvS6T1bZ/Bcuut+0GNsuS3sLyO51BLe1a4hFmFZ7g3GiozwsRDZ6XCciBN
WJOtzFFwD0u9IQLLGf1TZV7K4n0FRPcO2JBfH4lMYNKIl2dpRHt6P5aGcQKBgHkT
2AAraPyCz2RtCvKK04ib3UoWDuFoRXepU33R3+4fxIjOdoq2r7gK8hsddyq8XsaQ
NAckFGMYQgQYCZ5CRY7tS/wi47mYYgafF/gnPh+tPa2PFbDNOpudY3vapDvQxkcy
QotrfP5qNl0TWoGjm3gChFGhrhEyJyiYptIbKxMpAoGAECa+Bed7eTW3qH9+achL
KeVjqnM4ft2Ynazn39VXPwbfhJzU8X7w9NLUk94qhYV0M9rmBhGEA9pEGJCRnxuI
uFIdWoq9sAr7mlVwYzAuRI4IinqB2J87gQBsH4OQakFfwdw2t1orKtYqlGLT7L7o
ave14J95KEtaArcaSKaPCU8=
-----END PRIVATE KEY-----
";

/// Its public key as `p=` carries it: `openssl rsa -pubout -outform DER | base64`.
const RSA_PUBLIC: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA4AESYfvEhbaXNb789X6X6i7oKpAUUZ742RmV765gxvKeQaT08Ru0CjSWywP3pFpH5wY+jv7nsRT2LKvGXpuNKIV7PAyf9N0fsEUIz9iRRmzS+8DQpppX+Kkl4ydGgQiiHJsJqzq2qJtOjJd/+7+XToWTICuL4Zln5pwpEklgscBm4JznWjgABpZhxUy4DDBMPKbgqBsTVQBk2oz3kqaDH7gFHjplKBKhSSh8GenE7r8eQcaznMmRriYtrkH/oCSonc6CJyN4zOM3HXqKlkabVG1hbnLHUL5cZ+8UJQopRDbIfakjBPZQvIZh9tD+m/SifgHklFfOVaL6+zYLGNybEQIDAQAB";

/// An Ed25519 test key (`openssl genpkey -algorithm ed25519`), PKCS#8 v1.
pub(crate) const ED25519_PKCS8: &str = "\
-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIHMWBz+Txq2k+XZ4enXnccAKLkgOiFe3z1STH1rzZ8uQ
-----END PRIVATE KEY-----
";

/// Its raw 32-byte public key, base64 (RFC 8463): the last 32 bytes of
/// `openssl pkey -pubout -outform DER`.
pub(crate) const ED25519_PUBLIC: &str = "m65Zem+kRXL4MTGIlwSHNYr3IfXLPY8Xn0aLefA9jR0=";

/// Keys gazette must refuse: too small for ring, elliptic-curve, encrypted.
const RSA_1024: &str = "\
-----BEGIN RSA PRIVATE KEY-----
MIICXQIBAAKBgQD191NXkzJg4YggnXPlUlok1CRlEbZ06u8FzIVWv31nMOPYCAdf
XxiNnm/XHhemvRC+HaoAT9wypcPmY3TeIy1JDuc12DNY7mIg2VtErrKTdkAnMhyf
5a/pia5NJHGRGYhE/CE2z6es4VRv2xe4NTfpy4LKWpdHXl8qkukxCDyAywIDAQAB
AoGBANC2hO7sBbS1y6g5U03FWp6jsRpeNF/zts1J5d9dcBDvKHd5IKBp9lC9n5N/
gnxHNHzOeSH4ohYMGTZXMKUKXnJVJwBKe0OSn3piOcZFMSww1hMHyKRoHsTY1C4w
RaiYXJnRr+UMFzX4jzdjSIjSOZ37gB2U814DtS7eyi3kcFiZAkEA/KbbMpEFW7X0
5cG5snGncgXL1yI8Rfko/U/fP4U9+P2VOcLM2cSR7bub7HLoFNKKLuppFy6XQfTS
tTJMe7ZN7QJBAPk5yZ+qX3pVh+yjgcrid63gRNFY0pJYQ0XotM/tfp2Krl4hhqA/
sE41pdFNUyUq7qqmI55p9WkK9BGniFzlcpcCQQCvtDaSpwor6pHCywQilinWATPu
jG+QViPsboSaf0ZHB8uknNWryKmXxDY+rPa7rGPPFtQ4+/zTMLjsrGtGSdVNAkA7
aGD9ZFlaCeVarScVO6KXmewNkwSuycdPdMcVAWG7IAGsgoVa0ZOvMO6T08DMDU3S
88Nt0YgkP+4p/ytsKW2FAkAMHzNeQRqKhVcfsYQ6VI4MHz2cVRW6eJpzvcae4xp5
/7XAjGrgEssOWXFTD17Dq3+9M8MeesQEcdP8coODMXvO
-----END RSA PRIVATE KEY-----
";
const EC_P256: &str = "\
-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIN0ldJCiU68gB3NRFZZB+y04CvpeBlebuFLzVojs44VhoAoGCCqGSM49
AwEHoUQDQgAEQ8Me+sxvfo6+04GCZhWkia7xauZjo9Q18C5N4J2ndCJPo7umxq7m
xMYC4T1MoHjJjO/u8d6b68JyAf2qnpmh9w==
-----END EC PRIVATE KEY-----
";
const ED25519_ENCRYPTED: &str = "\
-----BEGIN ENCRYPTED PRIVATE KEY-----
MIGbMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAhh0xbfe8VpVgICCAAw
DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEIpuX1psrGfWE0IAKR4JT2IEQJ8r
hO0fSrJTvRJL7CI1pSGTGuQwz70v1IYI040sg3rcfhLk6MXAh1jRBDAS915osfSp
fAIzAM9b5ZGSqCtXnuQ=
-----END ENCRYPTED PRIVATE KEY-----
";
const PUBLIC_ONLY: &str = "\
-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAm65Zem+kRXL4MTGIlwSHNYr3IfXLPY8Xn0aLefA9jR0=
-----END PUBLIC KEY-----
";

/// DNS for the verifier: TXT records by name, nothing else.
#[derive(Default)]
struct TxtRecords(Mutex<HashMap<Box<str>, Txt>>);

impl TxtRecords {
    /// Publishes `record` at `<selector>._domainkey.<domain>`.
    fn publish(self, selector: &str, domain: &str, record: &str) -> Self {
        let key = DomainKey::parse(record.as_bytes()).expect("a valid DKIM key record");
        self.0.lock().unwrap().insert(
            format!("{selector}._domainkey.{domain}.").into(),
            Txt::from(key),
        );
        self
    }
}

impl ResolverCache<Box<str>, Txt> for TxtRecords {
    fn get<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.0.lock().unwrap().get(name).cloned()
    }
    fn remove<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.0.lock().unwrap().remove(name)
    }
    fn insert(&self, key: Box<str>, value: Txt, _: std::time::Instant) {
        self.0.lock().unwrap().insert(key, value);
    }
}

/// mail-auth's verdict on each DKIM signature of `raw`.
async fn verify(raw: &[u8], dns: &TxtRecords) -> Vec<DkimResult> {
    // Never asks the network: every record it needs is in `dns`, and a
    // missing one shows as a DNS error, which fails the test.
    let auth = MessageAuthenticator::new_cloudflare().unwrap();
    let msg = AuthenticatedMessage::parse(raw).expect("a parsable message");
    auth.verify_dkim(Parameters::new(&msg).with_txt_cache(dns))
        .await
        .iter()
        .map(|o| o.result().clone())
        .collect()
}

fn rsa_dns() -> TxtRecords {
    TxtRecords::default().publish(
        "gazette",
        "lists.example.org",
        &format!("v=DKIM1; k=rsa; p={RSA_PUBLIC}"),
    )
}

/// The tags of the message's one DKIM-Signature, unfolded.
fn dkim_tags(raw: &str) -> HashMap<String, String> {
    let msg = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .unwrap();
    let values: Vec<_> = msg
        .headers()
        .iter()
        .filter(|h| h.name().eq_ignore_ascii_case("DKIM-Signature"))
        .collect();
    assert_eq!(values.len(), 1, "one DKIM-Signature in\n{raw}");
    let value = msg.header_raw("DKIM-Signature").unwrap();
    let unfolded: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    unfolded
        .split(';')
        .filter_map(|t| t.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `raw` with one header's value replaced, or with its body changed.
fn tamper_subject(raw: &str) -> String {
    let start = raw.find("\r\nSubject: ").expect("a Subject") + 2;
    let end = start + raw[start..].find("\r\n").unwrap();
    format!(
        "{}Subject: Urgent: verify your account{}",
        &raw[..start],
        &raw[end..]
    )
}

fn tamper_body(raw: &str) -> String {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    format!("{head}\r\n\r\n{}", body.replacen("Roadmaps", "Invoices", 1))
}

fn key_file(dir: &Path, name: &str, pem: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, pem).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_message_is_signed_and_verifies() {
    const MEMBERS: usize = 3;
    let keys = tempfile::tempdir().unwrap();
    let key = key_file(keys.path(), "dkim.pem", RSA_PKCS1);
    let dns = rsa_dns();
    for db in databases().await {
        eprintln!("--- DKIM end to end on {}", db.label);
        let sink = Sink::start(SinkBehaviour::default()).await;
        let config = test_config(
            &db,
            &sink.url(),
            &[("GAZETTE_DKIM_KEY", key.to_str().unwrap())],
        );
        let ctx = Ctx::open(config).await.unwrap();
        // What gazette tells the operator to publish is what openssl derives.
        assert_eq!(
            ctx.dkim.as_ref().unwrap().dns_record(),
            format!("v=DKIM1; k=rsa; p={RSA_PUBLIC}")
        );
        let list = seed_list(&ctx, MEMBERS).await;
        send_now(&ctx, &list).await.unwrap();
        let (stop, workers) = start_workers(&ctx);
        let expected = MEMBERS + 1; // the digests and m0's acknowledgement
        wait_for(30, "every message to reach the relay", || async {
            (sink.count() == expected).then_some(())
        })
        .await;
        stop.send(true).unwrap();
        workers.await.unwrap();

        let mut digests = 0;
        for m in sink.messages() {
            let tags = dkim_tags(&m.data);
            assert_eq!(tags["v"], "1");
            assert_eq!(tags["a"], "rsa-sha256");
            assert_eq!(tags["c"], "relaxed/relaxed");
            assert_eq!(tags["d"], "lists.example.org");
            assert_eq!(tags["s"], "gazette");
            let signed: Vec<String> = tags["h"].split(':').map(str::to_ascii_lowercase).collect();
            for h in [
                "from",
                "to",
                "subject",
                "date",
                "message-id",
                "list-unsubscribe",
                "list-unsubscribe-post",
            ] {
                assert!(signed.iter().any(|s| s == h), "h= lacks {h}: {}", tags["h"]);
            }
            assert_eq!(
                verify(m.data.as_bytes(), &dns).await,
                vec![DkimResult::Pass],
                "to {}:\n{}",
                m.rcpt,
                m.data
            );
            let tampered = tamper_subject(&m.data);
            assert!(
                matches!(
                    verify(tampered.as_bytes(), &dns).await[..],
                    [DkimResult::Fail(_)]
                ),
                "a changed Subject still verifies"
            );
            if m.subject().starts_with("PM Circle digest") {
                digests += 1;
                assert!(m.header("List-Unsubscribe").is_some(), "{}", m.data);
                assert!(m.header("List-Unsubscribe-Post").is_some(), "{}", m.data);
                let tampered = tamper_body(&m.data);
                assert_ne!(tampered, m.data);
                assert!(
                    !matches!(
                        verify(tampered.as_bytes(), &dns).await[..],
                        [DkimResult::Pass]
                    ),
                    "a changed body still verifies"
                );
            }
        }
        // Every member's digest carried the one-click headers, under the signature.
        assert_eq!(digests, MEMBERS);
        let counts = ctx.store.outbox_counts().await.unwrap();
        assert!(
            counts.iter().all(|(_, s, _)| s.as_str() == "sent"),
            "{counts:?}"
        );
    }
}

/// An Ed25519 key, a fixed signing domain and selector, and the file
/// transport: the .eml files carry the signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ed25519_signs_the_files_too() {
    let db = sqlite_db();
    let keys = tempfile::tempdir().unwrap();
    let key = key_file(keys.path(), "ed25519.pem", ED25519_PKCS8);
    let out = tempfile::tempdir().unwrap();
    let config = test_config(
        &db,
        &format!("file://{}", out.path().display()),
        &[
            ("GAZETTE_DKIM_KEY", key.to_str().unwrap()),
            ("GAZETTE_DKIM_SELECTOR", "ed2026"),
            ("GAZETTE_DKIM_DOMAIN", "example.org"),
        ],
    );
    let ctx = Ctx::open(config).await.unwrap();
    assert_eq!(
        ctx.dkim.as_ref().unwrap().dns_record(),
        format!("v=DKIM1; k=ed25519; p={ED25519_PUBLIC}")
    );
    let list = seed_list(&ctx, 2).await;
    send_now(&ctx, &list).await.unwrap();
    let (stop, workers) = start_workers(&ctx);
    let files = eml_files(out.path(), 3).await;
    stop.send(true).unwrap();
    workers.await.unwrap();
    let dns = TxtRecords::default().publish(
        "ed2026",
        "example.org",
        &format!("v=DKIM1; k=ed25519; p={ED25519_PUBLIC}"),
    );
    for f in files {
        let raw = std::fs::read_to_string(&f).unwrap();
        let tags = dkim_tags(&raw);
        assert_eq!(tags["a"], "ed25519-sha256");
        assert_eq!(tags["d"], "example.org");
        assert_eq!(tags["s"], "ed2026");
        assert_eq!(
            verify(raw.as_bytes(), &dns).await,
            vec![DkimResult::Pass],
            "{}",
            f.display()
        );
        let tampered = tamper_subject(&raw);
        assert!(
            matches!(
                verify(tampered.as_bytes(), &dns).await[..],
                [DkimResult::Fail(_)]
            ),
            "a changed Subject still verifies"
        );
    }
}

/// The RSA key as PKCS#8 is the same key; signing domains come from the
/// From address, one signer each.
#[tokio::test]
async fn pkcs8_rsa_and_per_domain_signing() {
    let from_pkcs1 = Dkim::from_pem(RSA_PKCS1.as_bytes(), "gazette".into(), None).unwrap();
    let dkim = Dkim::from_pem(RSA_PKCS8.as_bytes(), "gazette".into(), None).unwrap();
    assert_eq!(dkim.dns_record(), from_pkcs1.dns_record());
    let dns = rsa_dns().publish(
        "gazette",
        "other.example.net",
        &format!("v=DKIM1; k=rsa; p={RSA_PUBLIC}"),
    );
    let message = mail(
        "Other list <ask@other.example.net>",
        "m@example.org",
        "Hello",
        "Body\n",
        "x1@other.example.net",
    );
    for (from, domain) in [
        ("pm@lists.example.org", "lists.example.org"),
        ("ask@Other.Example.NET", "other.example.net"),
    ] {
        assert_eq!(dkim.domain_for(from).unwrap(), domain);
        for _ in 0..2 {
            let signed = dkim.sign(domain, message.as_bytes()).unwrap();
            let signed = String::from_utf8(signed).unwrap();
            assert!(signed.starts_with("DKIM-Signature: ") && signed.ends_with(&message));
            assert_eq!(dkim_tags(&signed)["d"], domain);
            assert_eq!(
                verify(signed.as_bytes(), &dns).await,
                vec![DkimResult::Pass]
            );
        }
    }
    assert!(dkim.domain_for("no-domain").is_err());
    // A fixed domain wins over the From address.
    let fixed = Dkim::from_pem(
        RSA_PKCS8.as_bytes(),
        "gazette".into(),
        Some("example.org".into()),
    )
    .unwrap();
    assert_eq!(
        fixed.domain_for("pm@lists.example.org").unwrap(),
        "example.org"
    );
}

#[tokio::test]
async fn unusable_keys_stop_start_up() {
    let keys = tempfile::tempdir().unwrap();
    let cases = [
        ("missing.pem", None, "cannot read"),
        ("garbage.pem", Some("not a key\n"), "no PEM private key"),
        ("public.pem", Some(PUBLIC_ONLY), "no PEM private key"),
        ("small.pem", Some(RSA_1024), "RSA"),
        ("ec.pem", Some(EC_P256), "elliptic-curve"),
        ("encrypted.pem", Some(ED25519_ENCRYPTED), "passphrase"),
    ];
    for (name, pem, why) in cases {
        let path = match pem {
            Some(pem) => key_file(keys.path(), name, pem),
            None => keys.path().join(name),
        };
        let db = sqlite_db();
        let config = test_config(
            &db,
            "file:///dev/null",
            &[("GAZETTE_DKIM_KEY", path.to_str().unwrap())],
        );
        let e = match Ctx::open(config).await {
            Ok(_) => panic!("{name}: started with an unusable key"),
            Err(e) => e.to_string(),
        };
        for needed in [
            "GAZETTE_DKIM_KEY",
            name,
            why,
            "openssl genrsa -out dkim.pem 2048",
        ] {
            assert!(e.contains(needed), "{name}: {needed:?} missing in: {e}");
        }
        assert!(
            !e.contains("MII"),
            "{name}: the key leaks into the error: {e}"
        );
    }
}
