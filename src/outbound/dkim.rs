//! DKIM signing (RFC 6376) of every message gazette sends, with mail-auth
//! (ring). Receivers such as Gmail and Yahoo want bulk mail signed by the
//! From domain, and RFC 8058 one-click unsubscribe only counts when
//! `List-Unsubscribe` and `List-Unsubscribe-Post` are covered by a valid
//! signature. The key is loaded once, when the application context opens;
//! a key that cannot be used stops start-up rather than sending mail that
//! fails authentication later.

use crate::config::{ConfigError, DkimSettings};
use base64::Engine;
use mail_auth::common::crypto::{DkimKey, Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{Canonicalization, DkimSigner, Done};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The header fields signed. Fields a message lacks are still named in
/// `h=` (mail-auth does this, as RFC 6376 §8.15 advises), so nobody on the
/// way can add, say, a `List-Unsubscribe` or a `Reply-To` to a message
/// without breaking its signature.
pub const SIGNED_HEADERS: [&str; 18] = [
    "From",
    "Sender",
    "Reply-To",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "List-Post",
    "List-Help",
    "Auto-Submitted",
];

/// How to make a key, for errors about a missing or unusable one.
const MAKE_A_KEY: &str = "Accepted: a PEM private key file, RSA of 2048 to 4096 bits (\"BEGIN RSA PRIVATE KEY\" or \"BEGIN PRIVATE KEY\") or Ed25519 (\"BEGIN PRIVATE KEY\"), not encrypted. Make one with `openssl genrsa -out dkim.pem 2048` and publish the TXT record `gazette serve` then logs, or leave GAZETTE_DKIM_KEY empty to send unsigned.";

type Signer = DkimSigner<DkimKey, Done>;

/// The DKIM key and the signers made from it, shared by the delivery
/// workers.
pub struct Dkim {
    /// The key as read, to make a signer for each new signing domain
    /// (mail-auth's signer owns its key and fixes its domain).
    der: PrivateKeyDer<'static>,
    selector: String,
    /// `d=` for every message; `None` signs with the domain of the From address.
    domain: Option<String>,
    /// `v=DKIM1; k=…; p=…`, the TXT record receivers look up.
    dns_record: String,
    /// One signer per signing domain: a handful, one per list domain.
    signers: Mutex<HashMap<String, Arc<Signer>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("no domain to sign with: the From address {0:?} has none; set GAZETTE_DKIM_DOMAIN")]
    NoDomain(String),
    #[error("DKIM signing with d={domain} failed: {why}")]
    Failed { domain: String, why: String },
}

impl std::fmt::Debug for Dkim {
    // Never print the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dkim")
            .field("selector", &self.selector)
            .field("domain", &self.domain)
            .field("dns_record", &self.dns_record)
            .finish_non_exhaustive()
    }
}

impl Dkim {
    /// Reads and checks the key; the error names the key setting and says
    /// what keys are accepted.
    pub fn load(settings: &DkimSettings) -> Result<Dkim, ConfigError> {
        let path = settings.key.display().to_string();
        let bad = |why: String| ConfigError {
            setting: settings.key_setting.clone(),
            value: path.clone(),
            why,
            fix: MAKE_A_KEY.into(),
        };
        let pem = std::fs::read(&settings.key)
            .map_err(|e| bad(format!("cannot read the DKIM key file ({e})")))?;
        Self::from_pem(&pem, settings.selector.clone(), settings.domain.clone()).map_err(bad)
    }

    /// The key from PEM text; the error says what is wrong with it.
    pub fn from_pem(pem: &[u8], selector: String, domain: Option<String>) -> Result<Dkim, String> {
        if contains(pem, b"ENCRYPTED PRIVATE KEY") || contains(pem, b"Proc-Type: 4,ENCRYPTED") {
            return Err("the key is protected by a passphrase, which gazette cannot ask for; decrypt it with `openssl pkey -in KEY -out dkim.pem`".into());
        }
        let der = PrivateKeyDer::from_pem_slice(pem).map_err(|e| {
            format!("no PEM private key found in it ({e}); a public key or certificate will not do")
        })?;
        let key = key_from_der(&der)?;
        let dns_record = match &key {
            DkimKey::Rsa(k) => format!(
                "v=DKIM1; k=rsa; p={}",
                base64::engine::general_purpose::STANDARD.encode(rsa_spki(&k.public_key()))
            ),
            DkimKey::Ed25519(k) => format!(
                "v=DKIM1; k=ed25519; p={}",
                base64::engine::general_purpose::STANDARD.encode(k.public_key())
            ),
        };
        let dkim = Dkim {
            der,
            selector,
            domain,
            dns_record,
            signers: Mutex::default(),
        };
        // The key just parsed makes the first signer rather than going to waste.
        if let Some(d) = dkim.domain.clone() {
            dkim.insert_signer(&d, key);
        }
        Ok(dkim)
    }

    pub fn selector(&self) -> &str {
        &self.selector
    }

    /// The fixed signing domain, when `GAZETTE_DKIM_DOMAIN` is set.
    pub fn fixed_domain(&self) -> Option<&str> {
        self.domain.as_deref()
    }

    /// The TXT record to publish at `<selector>._domainkey.<domain>`.
    pub fn dns_record(&self) -> &str {
        &self.dns_record
    }

    /// `d=` for a message from `from_addr`: `GAZETTE_DKIM_DOMAIN`, or the
    /// address's own domain (so DMARC alignment holds for every list).
    pub fn domain_for(&self, from_addr: &str) -> Result<String, SignError> {
        if let Some(d) = &self.domain {
            return Ok(d.clone());
        }
        match from_addr.trim().trim_matches(['<', '>']).rsplit_once('@') {
            Some((_, d)) if !d.is_empty() => Ok(d.trim_end_matches('.').to_ascii_lowercase()),
            _ => Err(SignError::NoDomain(from_addr.into())),
        }
    }

    /// `message` with a `DKIM-Signature` header for `domain` in front
    /// (relaxed/relaxed, rsa-sha256 or ed25519-sha256).
    pub fn sign(&self, domain: &str, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        let failed = |why: String| SignError::Failed {
            domain: domain.clone(),
            why,
        };
        let signer = self.signer(&domain).map_err(failed)?;
        let header = signer
            .sign(message)
            .map_err(|e| failed(e.to_string()))?
            .to_header();
        let mut out = Vec::with_capacity(header.len() + message.len());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(message);
        Ok(out)
    }

    fn signer(&self, domain: &str) -> Result<Arc<Signer>, String> {
        if let Some(s) = self.signers.lock().unwrap().get(domain) {
            return Ok(s.clone());
        }
        // Parsed again: it was checked at load, so this fails only if ring
        // changes its mind, and then the row is retried, not lost.
        let key = key_from_der(&self.der)?;
        Ok(self.insert_signer(domain, key))
    }

    fn insert_signer(&self, domain: &str, key: DkimKey) -> Arc<Signer> {
        let signer = DkimSigner::from_key(key)
            .domain(domain)
            .selector(&self.selector)
            .headers(SIGNED_HEADERS)
            .header_canonicalization(Canonicalization::Relaxed)
            .body_canonicalization(Canonicalization::Relaxed);
        let mut signers = self.signers.lock().unwrap();
        // Two workers may both have made one; keep the first.
        signers
            .entry(domain.to_string())
            .or_insert_with(|| Arc::new(signer))
            .clone()
    }
}

/// RSA (PKCS#1 or PKCS#8) or Ed25519 (PKCS#8) signing key.
fn key_from_der(der: &PrivateKeyDer<'_>) -> Result<DkimKey, String> {
    match der {
        PrivateKeyDer::Pkcs1(_) => RsaKey::<Sha256>::from_key_der(der.clone_key())
            .map(DkimKey::Rsa)
            .map_err(|e| format!("not a usable RSA private key ({e})")),
        PrivateKeyDer::Pkcs8(p) => {
            match RsaKey::<Sha256>::from_key_der(der.clone_key()) {
                Ok(k) => Ok(DkimKey::Rsa(k)),
                // `openssl genpkey -algorithm ed25519` writes PKCS#8 v1,
                // without the public key, which ring's checked parser refuses.
                Err(rsa) => Ed25519Key::from_pkcs8_maybe_unchecked_der(p.secret_pkcs8_der())
                    .map(DkimKey::Ed25519)
                    .map_err(|ed| {
                        format!("the PKCS#8 key is neither a usable RSA key ({rsa}) nor an Ed25519 key ({ed})")
                    }),
            }
        }
        PrivateKeyDer::Sec1(_) => {
            Err("it is an elliptic-curve (EC) key; DKIM signs with RSA or Ed25519 only".into())
        }
        _ => Err("unknown private key format".into()),
    }
}

/// Wraps a PKCS#1 `RSAPublicKey` in a `SubjectPublicKeyInfo`, the form
/// `p=` carries (and `openssl rsa -pubout` prints).
fn rsa_spki(pkcs1: &[u8]) -> Vec<u8> {
    // SEQUENCE { OID 1.2.840.113549.1.1.1 (rsaEncryption), NULL }
    const ALGORITHM: [u8; 15] = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bits = vec![0x03];
    der_len(pkcs1.len() + 1, &mut bits);
    bits.push(0); // no unused bits
    bits.extend_from_slice(pkcs1);
    let mut out = vec![0x30];
    der_len(ALGORITHM.len() + bits.len(), &mut out);
    out.extend_from_slice(&ALGORITHM);
    out.extend_from_slice(&bits);
    out
}

fn der_len(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
