//! Configuration: built-in defaults, overridden by `gazette.toml`
//! (`GAZETTE_CONFIG`), overridden by `GAZETTE_*` environment variables.
//! Every setting is validated once here, and a bad one stops start-up with a
//! message naming the setting and how to fix it.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

mod auth;
mod smtp;

use crate::secret::Secret;
use auth::{parse_authserv_ids, parse_secret, parse_sender_auth};
pub use auth::{SenderAuthMode, MIN_SECRET_BYTES};
use smtp::parse_smtp_url;
pub use smtp::{is_loopback_host, SmtpTarget, SmtpTls};

#[derive(Debug, Clone)]
pub struct Config {
    /// May hold a password; [`crate::redact::url`] shows it safely.
    pub database_url: Secret<String>,
    pub smtp: SmtpTarget,
    /// `GAZETTE_SMTP_URL` as given but with the password hidden, for logs.
    pub smtp_url: String,
    pub inbound_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub base_url: String,
    /// `GAZETTE_BASE_URL` was not set: links follow the HTTP listener,
    /// including the port it actually got when `GAZETTE_HTTP_ADDR` asks
    /// for port 0.
    pub base_url_follows_http: bool,
    /// Shared secret for `POST /inbound` (raw MIME over HTTP); disabled when empty.
    pub inbound_secret: Secret<String>,
    /// Token key (`GAZETTE_SECRET`, at least 32 bytes); when empty, a
    /// generated one is used (see [`crate::token_secret`]).
    pub secret: Secret<String>,
    pub hostname: String,
    pub separator: char,
    pub max_message_bytes: usize,
    pub smtp_max_connections: usize,
    /// Messages per second per relay; 0 means no cap.
    pub smtp_rate_per_sec: u32,
    pub workers: usize,
    pub batch_size: i64,
    pub lease: Duration,
    pub scheduler_tick: Duration,
    /// Longest wait for the next piece of a DATA body (SMTP/LMTP).
    pub inbound_idle_timeout: Duration,
    /// Longest wait for the greeting's first command and for each command
    /// after it (SMTP/LMTP).
    pub inbound_command_timeout: Duration,
    /// Most concurrent SMTP/LMTP sessions from one client (an IPv4 address
    /// or an IPv6 /64).
    pub inbound_max_per_client: usize,
    /// Most new SMTP/LMTP connections one client may open per minute; 0
    /// means no cap.
    pub inbound_connects_per_minute: u32,
    /// Most concurrent HTTP connections on the public listener.
    pub http_max_connections: usize,
    /// Longest wait for an HTTP request head, after connecting or after the
    /// previous response (so also the keep-alive idle time).
    pub http_header_timeout: Duration,
    /// Where `/metrics` is served on its own; `None` keeps it off every
    /// listener unless `metrics_token` puts it on the public one.
    pub metrics_addr: Option<SocketAddr>,
    /// Bearer token `/metrics` asks for; empty means none.
    pub metrics_token: Secret<String>,
    /// How long after the first failure a temporary error stops being retried.
    pub retry_for: Duration,
    /// Raw bytes of inbound mail handled longer ago than this are deleted
    /// (`GAZETTE_KEEP_RAW_DAYS`); held and failed mail keeps them.
    pub keep_raw: Duration,
    /// Finished deliveries older than this are deleted, their issue's
    /// counts kept (`GAZETTE_KEEP_DELIVERIES_DAYS`).
    pub keep_deliveries: Duration,
    /// Whether mail received over SMTP/LMTP has its DKIM, SPF and DMARC
    /// checked against DNS (`GAZETTE_SENDER_AUTH`: `dns` or `off`).
    pub sender_auth: SenderAuthMode,
    /// The `Authentication-Results` authserv-ids (lower case) of the MTAs
    /// in front of gazette, whose verdicts are believed
    /// (`GAZETTE_TRUSTED_AUTHSERV_IDS`, comma-separated).
    pub trusted_authserv_ids: Vec<String>,
    /// How long a reply address stays valid (`GAZETTE_REPLY_TOKEN_DAYS`).
    pub reply_token_max_age: Duration,
    pub log: String,
    /// Things worth telling the operator that do not stop start-up
    /// (an unknown GAZETTE_* variable, links that will not work).
    pub warnings: Vec<String>,
    /// DKIM signing of outgoing mail; `None` when `GAZETTE_DKIM_KEY` is
    /// empty, and mail goes out unsigned.
    pub dkim: Option<DkimSettings>,
}

/// Where the DKIM key is and what the signatures claim. The key file is
/// read when the application context opens
/// ([`crate::outbound::dkim::Dkim::load`]), not here, so the configuration
/// stays plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimSettings {
    /// PEM private key file (RSA or Ed25519).
    pub key: PathBuf,
    /// The key setting as the operator wrote it (`GAZETTE_DKIM_KEY` or
    /// `dkim_key in gazette.toml`), so an unusable key is reported by it.
    pub key_setting: String,
    /// `s=`: the key is published at `<selector>._domainkey.<domain>`.
    pub selector: String,
    /// `d=` for every message; `None` signs with each list's own domain.
    pub domain: Option<String>,
}

/// The shape of `gazette.toml`; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    smtp_url: Option<String>,
    inbound_addr: Option<String>,
    http_addr: Option<String>,
    base_url: Option<String>,
    inbound_secret: Option<String>,
    secret: Option<String>,
    hostname: Option<String>,
    separator: Option<String>,
    max_message_bytes: Option<u64>,
    smtp_max_connections: Option<u64>,
    smtp_rate_per_sec: Option<u64>,
    workers: Option<u64>,
    batch_size: Option<u64>,
    lease_secs: Option<u64>,
    scheduler_tick_ms: Option<u64>,
    inbound_idle_timeout_secs: Option<u64>,
    inbound_command_timeout_secs: Option<u64>,
    inbound_max_per_client: Option<u64>,
    inbound_connects_per_minute: Option<u64>,
    http_max_connections: Option<u64>,
    http_header_timeout_secs: Option<u64>,
    metrics_addr: Option<String>,
    metrics_token: Option<String>,
    retry_for_hours: Option<u64>,
    keep_raw_days: Option<u64>,
    keep_deliveries_days: Option<u64>,
    sender_auth: Option<String>,
    trusted_authserv_ids: Option<String>,
    reply_token_days: Option<u64>,
    log: Option<String>,
    dkim_key: Option<String>,
    dkim_selector: Option<String>,
    dkim_domain: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {setting} = {value:?} is not valid: {why}. {fix}")]
pub struct ConfigError {
    pub setting: String,
    pub value: String,
    pub why: String,
    pub fix: String,
}

fn bad(setting: &str, value: &str, why: impl Into<String>, fix: impl Into<String>) -> ConfigError {
    ConfigError {
        setting: setting.into(),
        value: value.into(),
        why: why.into(),
        fix: fix.into(),
    }
}

/// One setting's raw text and where it came from, so errors can name it as
/// the operator wrote it (`GAZETTE_SMTP_URL` or `smtp_url` in gazette.toml).
struct Raw {
    name: String,
    value: String,
}

impl Config {
    /// Loads from `GAZETTE_CONFIG` (or `./gazette.toml` when present) and the
    /// process environment.
    pub fn load() -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::from_sources(&env)
    }

    /// Same as [`load`](Self::load) with an explicit environment (for tests).
    pub fn from_sources(env: &[(String, String)]) -> Result<Config, ConfigError> {
        let get_env = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let path = get_env("GAZETTE_CONFIG").map(PathBuf::from);
        let file = match &path {
            Some(p) => read_file(p, true)?,
            None => read_file(&PathBuf::from("gazette.toml"), false)?,
        };
        let known = std::cell::RefCell::new(vec!["GAZETTE_CONFIG".to_string()]);
        let pick = |key: &str, from_file: Option<String>, default: &str| -> Raw {
            let env_name = format!("GAZETTE_{}", key.to_ascii_uppercase());
            known.borrow_mut().push(env_name.clone());
            if let Some(v) = get_env(&env_name) {
                Raw {
                    name: env_name,
                    value: v,
                }
            } else if let Some(v) = from_file {
                Raw {
                    name: format!("{key} in gazette.toml"),
                    value: v,
                }
            } else {
                Raw {
                    name: env_name,
                    value: default.to_string(),
                }
            }
        };
        let num = |v: Option<u64>| v.map(|n| n.to_string());
        let database_url = pick(
            "database_url",
            file.database_url,
            "sqlite://gazette.db?mode=rwc",
        );
        let smtp_url = pick("smtp_url", file.smtp_url, "file://outbox");
        let inbound_addr = pick("inbound_addr", file.inbound_addr, "127.0.0.1:2525");
        let http_addr = pick("http_addr", file.http_addr, "127.0.0.1:8080");
        let base_url = pick("base_url", file.base_url, "");
        let separator = pick("separator", file.separator, "+");
        let hostname = pick("hostname", file.hostname, &system_hostname());
        let dkim = parse_dkim(
            &pick("dkim_key", file.dkim_key, ""),
            &pick("dkim_selector", file.dkim_selector, "gazette"),
            &pick("dkim_domain", file.dkim_domain, ""),
        )?;
        let c = Config {
            database_url: parse_database_url(&database_url)?.into(),
            smtp: parse_smtp_url(&smtp_url)?,
            smtp_url: crate::redact::url(smtp_url.value.trim()),
            inbound_addr: parse_addr(&inbound_addr)?,
            http_addr: parse_addr(&http_addr)?,
            base_url: String::new(),
            base_url_follows_http: false,
            inbound_secret: pick("inbound_secret", file.inbound_secret, "").value.into(),
            secret: parse_secret(&pick("secret", file.secret, ""))?.into(),
            hostname: hostname.value,
            separator: parse_separator(&separator)?,
            max_message_bytes: parse_num(
                &pick("max_message_bytes", num(file.max_message_bytes), "10485760"),
                1024,
                1 << 30,
            )? as usize,
            smtp_max_connections: parse_num(
                &pick("smtp_max_connections", num(file.smtp_max_connections), "4"),
                1,
                1000,
            )? as usize,
            smtp_rate_per_sec: parse_num(
                &pick("smtp_rate_per_sec", num(file.smtp_rate_per_sec), "0"),
                0,
                1_000_000,
            )? as u32,
            workers: parse_num(&pick("workers", num(file.workers), "2"), 1, 256)? as usize,
            batch_size: parse_num(&pick("batch_size", num(file.batch_size), "500"), 1, 10_000)?
                as i64,
            lease: Duration::from_secs(parse_num(
                &pick("lease_secs", num(file.lease_secs), "300"),
                1,
                86_400,
            )?),
            scheduler_tick: Duration::from_millis(parse_num(
                &pick("scheduler_tick_ms", num(file.scheduler_tick_ms), "1000"),
                10,
                3_600_000,
            )?),
            inbound_idle_timeout: Duration::from_secs(parse_num(
                &pick(
                    "inbound_idle_timeout_secs",
                    num(file.inbound_idle_timeout_secs),
                    "300",
                ),
                1,
                3600,
            )?),
            inbound_command_timeout: Duration::from_secs(parse_num(
                &pick(
                    "inbound_command_timeout_secs",
                    num(file.inbound_command_timeout_secs),
                    "30",
                ),
                1,
                3600,
            )?),
            inbound_max_per_client: parse_num(
                &pick(
                    "inbound_max_per_client",
                    num(file.inbound_max_per_client),
                    "10",
                ),
                1,
                crate::inbound::smtp::MAX_SESSIONS as u64,
            )? as usize,
            inbound_connects_per_minute: parse_num(
                &pick(
                    "inbound_connects_per_minute",
                    num(file.inbound_connects_per_minute),
                    "60",
                ),
                0,
                1_000_000,
            )? as u32,
            http_max_connections: parse_num(
                &pick(
                    "http_max_connections",
                    num(file.http_max_connections),
                    "512",
                ),
                4,
                1_000_000,
            )? as usize,
            http_header_timeout: Duration::from_secs(parse_num(
                &pick(
                    "http_header_timeout_secs",
                    num(file.http_header_timeout_secs),
                    "10",
                ),
                1,
                300,
            )?),
            metrics_addr: parse_optional_addr(&pick("metrics_addr", file.metrics_addr, ""))?,
            metrics_token: parse_token(&pick("metrics_token", file.metrics_token, ""))?.into(),
            retry_for: Duration::from_secs(
                3600 * parse_num(
                    &pick("retry_for_hours", num(file.retry_for_hours), "120"),
                    1,
                    24 * 60,
                )?,
            ),
            keep_raw: days(parse_num(
                &pick("keep_raw_days", num(file.keep_raw_days), "90"),
                1,
                36_500,
            )?),
            keep_deliveries: days(parse_num(
                &pick("keep_deliveries_days", num(file.keep_deliveries_days), "30"),
                1,
                36_500,
            )?),
            sender_auth: parse_sender_auth(&pick("sender_auth", file.sender_auth, "dns"))?,
            trusted_authserv_ids: parse_authserv_ids(&pick(
                "trusted_authserv_ids",
                file.trusted_authserv_ids,
                "",
            ))?,
            reply_token_max_age: Duration::from_secs(
                86_400
                    * parse_num(
                        &pick("reply_token_days", num(file.reply_token_days), "365"),
                        1,
                        36_500,
                    )?,
            ),
            log: pick("log", file.log, "info").value,
            dkim,
            warnings: Vec::new(),
        };
        let mut warnings = unknown_variables(env, &known.borrow());
        if base_url.value.trim().is_empty() && c.http_addr.ip().is_unspecified() {
            warnings.push(format!(
                "GAZETTE_HTTP_ADDR listens on {} but GAZETTE_BASE_URL is not set: links in mail would point at http://{}, which no reader can open. Set GAZETTE_BASE_URL to the public URL.",
                c.http_addr, c.http_addr
            ));
        }
        let base_url_follows_http = base_url.value.trim().is_empty();
        let base_url = parse_base_url(&base_url, c.http_addr)?;
        Ok(Config {
            base_url,
            base_url_follows_http,
            warnings,
            ..c
        })
    }
}

/// `GAZETTE_*` variables nobody reads: most likely a typo the operator
/// would otherwise never notice (gazette.toml refuses unknown keys).
fn unknown_variables(env: &[(String, String)], known: &[String]) -> Vec<String> {
    // Read by the test suite and the benchmark, not by gazette.
    const OTHERS: [&str; 3] = [
        "GAZETTE_TEST_POSTGRES_URL",
        "GAZETTE_BENCH_MEMBERS",
        "GAZETTE_BENCH_ROUNDS",
    ];
    env.iter()
        .map(|(name, _)| name)
        .filter(|n| n.starts_with("GAZETTE_"))
        .filter(|n| !known.contains(n) && !OTHERS.contains(&n.as_str()))
        .map(|n| {
            format!(
                "{n} is not a gazette setting and is ignored; see the README's configuration table"
            )
        })
        .collect()
}

/// This machine's name, for the SMTP greeting and EHLO when
/// `GAZETTE_HOSTNAME` is not set (relays distrust `localhost`).
fn system_hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .find(|s| !s.is_empty() && !s.contains(char::is_whitespace))
        .unwrap_or_else(|| "localhost".into())
}

fn read_file(path: &PathBuf, required: bool) -> Result<FileConfig, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(FileConfig::default())
        }
        Err(e) => {
            return Err(bad(
                "GAZETTE_CONFIG",
                &path.display().to_string(),
                format!("cannot read it ({e})"),
                "Point GAZETTE_CONFIG at a readable gazette.toml, or unset it.",
            ))
        }
    };
    toml::from_str(&text).map_err(|e| {
        // Where in the file, as an editor shows it (line and column from 1).
        let at = e
            .span()
            .map(|span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                format!(" at line {line}, column {column}")
            })
            .unwrap_or_default();
        bad(
            "GAZETTE_CONFIG",
            &path.display().to_string(),
            format!("it is not valid gazette.toml{at}: {}", e.message()),
            "Fix the file; keys are the GAZETTE_* names in lower case without the prefix, e.g. smtp_url = \"file://outbox\".",
        )
    })
}

fn parse_database_url(raw: &Raw) -> Result<String, ConfigError> {
    let v = raw.value.trim();
    if v.starts_with("sqlite:") || v.starts_with("postgres://") || v.starts_with("postgresql://") {
        Ok(v.to_string())
    } else {
        Err(bad(
            &raw.name,
            &crate::redact::url(v),
            "gazette speaks SQLite and PostgreSQL only",
            "Use sqlite://gazette.db?mode=rwc (the default) or postgres://user@host/db.",
        ))
    }
}

fn parse_addr(raw: &Raw) -> Result<SocketAddr, ConfigError> {
    let v = raw.value.trim();
    // `localhost:8080` is what people type; it means the IPv4 loopback.
    let v = match v.strip_prefix("localhost:") {
        Some(port) => format!("127.0.0.1:{port}"),
        None => v.to_string(),
    };
    let fix = "Write it as 127.0.0.1:2525 or [::]:25 (port 0 picks a free port).";
    v.parse().map_err(|_| {
        // Say which half is wrong: "80800" is a port out of range, not a bad IP.
        let why = match v.rsplit_once(':') {
            Some((_, port)) if port.parse::<u64>().is_ok() && port.parse::<u16>().is_err() => {
                format!("port {port} is out of range (ports go from 0 to 65535)")
            }
            Some((_, port)) if port.parse::<u16>().is_err() => {
                format!("`{port}` is not a port number")
            }
            Some((host, _)) => format!(
                "`{host}` is not an IP address (names other than localhost are not resolved here)"
            ),
            None => "it has no port (write address:port)".to_string(),
        };
        bad(&raw.name, &raw.value, why, fix)
    })
}

/// An address to listen on, or `None` when the setting is empty (off).
fn parse_optional_addr(raw: &Raw) -> Result<Option<SocketAddr>, ConfigError> {
    if raw.value.trim().is_empty() {
        return Ok(None);
    }
    parse_addr(raw).map(Some)
}

/// A bearer token: empty (none), or long enough that guessing is hopeless.
fn parse_token(raw: &Raw) -> Result<String, ConfigError> {
    let v = raw.value.trim();
    if !v.is_empty() && (v.len() < 16 || !v.bytes().all(|b| b.is_ascii_graphic())) {
        return Err(bad(
            &raw.name,
            "(hidden)",
            "a bearer token must be at least 16 printable characters without spaces",
            "Generate one, e.g. with: openssl rand -hex 24",
        ));
    }
    Ok(v.to_string())
}

fn parse_separator(raw: &Raw) -> Result<char, ConfigError> {
    let mut chars = raw.value.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if "+-=_.".contains(c) => Ok(c),
        _ => Err(bad(
            &raw.name,
            &raw.value,
            "the sub-address separator must be one of + - = _ .",
            "Use + (the default) unless your MTA delivers another.",
        )),
    }
}

fn days(n: u64) -> Duration {
    Duration::from_secs(n * 86_400)
}

fn parse_num(raw: &Raw, min: u64, max: u64) -> Result<u64, ConfigError> {
    match raw.value.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(bad(
            &raw.name,
            &raw.value,
            format!("expected a whole number from {min} to {max}"),
            "Set it to a number in that range, or remove it to use the default.",
        )),
    }
}

fn parse_base_url(raw: &Raw, http: SocketAddr) -> Result<String, ConfigError> {
    let v = raw.value.trim().trim_end_matches('/');
    if v.is_empty() {
        return Ok(format!("http://{http}"));
    }
    if !(v.starts_with("http://") || v.starts_with("https://")) {
        return Err(bad(
            &raw.name,
            v,
            "links in mail need an absolute http(s) URL",
            "Set it to the public URL of the web server, e.g. https://lists.example.org.",
        ));
    }
    Ok(v.to_string())
}

/// The DKIM settings: none when the key is empty. Selector and domain are
/// checked even then, so a typo shows before signing is turned on.
fn parse_dkim(
    key: &Raw,
    selector: &Raw,
    domain: &Raw,
) -> Result<Option<DkimSettings>, ConfigError> {
    let s = selector.value.trim().to_ascii_lowercase();
    if !is_dns_name(&s) {
        return Err(bad(
            &selector.name,
            &selector.value,
            "a DKIM selector is one or more DNS labels (letters, digits, hyphens, separated by dots)",
            "Use a name such as gazette (the default) or gazette2026; the public key goes in DNS at <selector>._domainkey.<domain>.",
        ));
    }
    let d = domain
        .value
        .trim()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    // Empty means each list's own domain.
    let usable = d.is_empty() || (is_dns_name(&d) && d.contains('.'));
    if !usable {
        return Err(bad(
            &domain.name,
            &domain.value,
            "not a domain name",
            "Set it to the domain that signs (d=), e.g. lists.example.org or a parent of the list domains, or leave it empty to sign with each list's own domain.",
        ));
    }
    let k = key.value.trim();
    if k.is_empty() {
        return Ok(None);
    }
    Ok(Some(DkimSettings {
        key: PathBuf::from(k),
        key_setting: key.name.clone(),
        selector: s,
        domain: (!d.is_empty()).then_some(d),
    }))
}

/// Dot-separated labels of letters, digits and inner hyphens (RFC 1035).
fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests;
