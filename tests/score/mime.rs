//! MIME reading against Stalwart mail-parser's malformed, third-party and
//! RFC sample messages: gazette's `parse_message` (mbox and CR-only
//! handling, panic guard) must give the parts and decoded bodies the
//! expected JSON records, for the file as it is and with CRLF line endings.

use crate::{corpus, Floor, Row};
use gazette::inbound::classify::parse_message;
use mail_parser::PartType;
use serde_json::Value;
use std::path::Path;

const STALWART: &str = "stalwart-mail-parser";

pub fn stalwart(missing: &mut Vec<String>) -> Vec<Row> {
    let Some(root) = corpus(STALWART, missing) else {
        return Vec::new();
    };
    let mut row = Row::new(
        STALWART,
        "parts and decoded bodies as expected (LF and CRLF)",
        Floor::Cases(103),
    );
    for dir in ["malformed", "thirdparty", "rfc"] {
        let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        for eml in files
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        {
            let raw = std::fs::read(eml).unwrap();
            let name = format!("{dir}/{}", eml.file_name().unwrap().to_string_lossy());
            for (variant, json, input) in [
                ("", "json", raw.clone()),
                (" (CRLF)", "crlf.json", crlf(&raw)),
            ] {
                let Some(want) = expected(&eml.with_extension(json)) else {
                    continue;
                };
                let why = compare(&input, &want);
                row.check(why.is_none(), || {
                    format!("{name}{variant}: {}", why.unwrap_or_default())
                });
            }
        }
    }
    vec![row]
}

fn expected(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 20);
    for (i, &b) in raw.iter().enumerate() {
        if b == b'\n' && (i == 0 || raw[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// `None` when every part has the expected kind and decoded text.
fn compare(raw: &[u8], want: &Value) -> Option<String> {
    let Some(message) = parse_message(raw) else {
        return Some("not parsed".into());
    };
    let parts = want["parts"].as_array()?;
    if parts.len() != message.parts.len() {
        return Some(format!(
            "{} parts, want {}",
            message.parts.len(),
            parts.len()
        ));
    }
    for (i, (got, want)) in message.parts.iter().zip(parts).enumerate() {
        let body = &want["body"];
        let same = match &got.body {
            PartType::Text(t) => body["Text"].as_str() == Some(t.as_ref()),
            PartType::Html(h) => body["Html"].as_str() == Some(h.as_ref()),
            PartType::Binary(b) => body["Binary"].as_array().map(Vec::len) == Some(b.len()),
            PartType::InlineBinary(b) => {
                body["InlineBinary"].as_array().map(Vec::len) == Some(b.len())
            }
            PartType::Message(_) => body.get("Message").is_some(),
            PartType::Multipart(_) => body.get("Multipart").is_some(),
        };
        if !same {
            let got = format!("{:?}", got.body);
            return Some(format!(
                "part {i} is {}",
                got.chars().take(120).collect::<String>()
            ));
        }
    }
    None
}
