//! Configuration tests: defaults, file and environment precedence, and
//! the errors a bad setting gives.

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn defaults_are_embedded() {
    let c = Config::from_sources(&env(&[("GAZETTE_CONFIG", "/dev/null")])).unwrap();
    assert_eq!(c.database_url.expose(), "sqlite://gazette.db?mode=rwc");
    assert_eq!(c.smtp, SmtpTarget::Files("outbox".into()));
    assert_eq!(c.inbound_addr.to_string(), "127.0.0.1:2525");
    assert_eq!(c.base_url, "http://127.0.0.1:8080");
}

#[test]
fn bad_settings_name_themselves() {
    let e = Config::from_sources(&env(&[
        ("GAZETTE_CONFIG", "/dev/null"),
        ("GAZETTE_SMTP_URL", "ftp://x"),
    ]))
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("GAZETTE_SMTP_URL") && e.contains("smtp://"),
        "{e}"
    );
    let e = Config::from_sources(&env(&[
        ("GAZETTE_CONFIG", "/dev/null"),
        ("GAZETTE_HTTP_ADDR", "localhost"),
    ]))
    .unwrap_err()
    .to_string();
    assert!(e.contains("GAZETTE_HTTP_ADDR"), "{e}");
}

#[test]
fn file_then_environment() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("g.toml");
    std::fs::write(&p, "smtp_url = \"smtp://relay:2500\"\nworkers = 3\n").unwrap();
    let path = p.display().to_string();
    let c = Config::from_sources(&env(&[("GAZETTE_CONFIG", &path)])).unwrap();
    assert_eq!(c.workers, 3);
    assert!(matches!(c.smtp, SmtpTarget::Relay { port: 2500, .. }));
    let c =
        Config::from_sources(&env(&[("GAZETTE_CONFIG", &path), ("GAZETTE_WORKERS", "5")])).unwrap();
    assert_eq!(c.workers, 5);
    std::fs::write(&p, "smtp_ur = 1\n").unwrap();
    let e = Config::from_sources(&env(&[("GAZETTE_CONFIG", &path)])).unwrap_err();
    assert!(e.to_string().contains("smtp_ur"), "{e}");
}

#[test]
fn relay_urls_parse() {
    let c = Config::from_sources(&env(&[
        ("GAZETTE_CONFIG", "/dev/null"),
        ("GAZETTE_SMTP_URL", "smtps://me%40x.org:p%3Ass@mail.x.org"),
    ]))
    .unwrap();
    assert_eq!(
        c.smtp,
        SmtpTarget::Relay {
            host: "mail.x.org".into(),
            port: 465,
            tls: SmtpTls::Implicit,
            credentials: Some(("me@x.org".into(), "p:ss".into()))
        }
    );
}

fn smtp(url: &str) -> Result<SmtpTarget, String> {
    Config::from_sources(&env(&[
        ("GAZETTE_CONFIG", "/dev/null"),
        ("GAZETTE_SMTP_URL", url),
    ]))
    .map(|c| c.smtp)
    .map_err(|e| e.to_string())
}

fn tls_of(url: &str) -> SmtpTls {
    match smtp(url) {
        Ok(SmtpTarget::Relay { tls, .. }) => tls,
        other => panic!("{url}: {other:?}"),
    }
}

#[test]
fn tls_modes_parse() {
    assert_eq!(tls_of("smtp://relay:2525"), SmtpTls::Opportunistic);
    assert_eq!(
        tls_of("smtp://relay:2525?tls=opportunistic"),
        SmtpTls::Opportunistic
    );
    assert_eq!(tls_of("smtp://relay?tls=required"), SmtpTls::Required);
    assert_eq!(tls_of("smtp://relay:25/?tls=none"), SmtpTls::None);
    assert_eq!(tls_of("smtp://relay?tls=REQUIRED"), SmtpTls::Required);
    assert_eq!(tls_of("smtps://u:p@relay"), SmtpTls::Implicit);
    assert_eq!(tls_of("smtps://relay?tls=required"), SmtpTls::Implicit);
    assert_eq!(
        tls_of("smtps://relay:465?tls=insecure"),
        SmtpTls::ImplicitInsecure
    );
    // The query does not leak into the port or the password.
    assert_eq!(
        smtp("smtp://me:p%3Fw@relay:587?tls=required").unwrap(),
        SmtpTarget::Relay {
            host: "relay".into(),
            port: 587,
            tls: SmtpTls::Required,
            credentials: Some(("me".into(), "p?w".into())),
        }
    );
    assert!(SmtpTls::Required.verifies_certificate());
    assert!(!SmtpTls::Opportunistic.verifies_certificate());
    assert!(
        SmtpTls::ImplicitInsecure.is_implicit()
            && !SmtpTls::ImplicitInsecure.verifies_certificate()
    );
}

#[test]
fn bad_tls_modes_name_the_setting_and_the_choices() {
    for (url, choices) in [
        ("smtp://relay?tls=yes", "opportunistic"),
        ("smtp://relay?tls=insecure", "none"),
        ("smtps://relay?tls=none", "insecure"),
        ("smtp://relay?starttls=1", "tls=required"),
    ] {
        let e = smtp(url).unwrap_err();
        assert!(
            e.contains("GAZETTE_SMTP_URL") && e.contains(choices),
            "{url}: {e}"
        );
    }
    // A password in clear text over the network is refused up front...
    let e = smtp("smtp://u:p@relay.example.net?tls=none").unwrap_err();
    assert!(
        e.contains("GAZETTE_SMTP_URL") && e.contains("unencrypted"),
        "{e}"
    );
    // ...but fine on loopback.
    assert_eq!(tls_of("smtp://u:p@127.0.0.1:2525?tls=none"), SmtpTls::None);
    assert_eq!(tls_of("smtp://u:p@[::1]:2525?tls=none"), SmtpTls::None);
}

#[test]
fn passwords_stay_out_of_logs_and_errors() {
    let c = Config::from_sources(&env(&[
        ("GAZETTE_CONFIG", "/dev/null"),
        (
            "GAZETTE_SMTP_URL",
            "smtps://me%40x.org:s3cret@mail.x.org:465",
        ),
    ]))
    .unwrap();
    assert_eq!(c.smtp_url, "smtps://me%40x.org:***@mail.x.org:465");
    let e = smtp("smtp://me:s3cret@relay.example.net?tls=bogus").unwrap_err();
    assert!(!e.contains("s3cret") && e.contains("me:***@relay"), "{e}");
}

/// A database URL gazette does not speak is echoed without its password.
#[test]
fn unknown_database_schemes_hide_the_password() {
    let e = Config::from_sources(&env(&[
        ("GAZETTE_CONFIG", "/dev/null"),
        (
            "GAZETTE_DATABASE_URL",
            "mysql://admin:hunter2pass@db.example.net/gazette",
        ),
    ]))
    .unwrap_err()
    .to_string();
    assert!(e.contains("GAZETTE_DATABASE_URL"), "{e}");
    assert!(!e.contains("hunter2pass"), "{e}");
    assert!(
        e.contains("mysql://admin:***@db.example.net/gazette"),
        "{e}"
    );
}

/// A configured token key shorter than 32 bytes stops start-up with a
/// message saying how to make one, and does not echo it.
#[test]
fn short_token_keys_are_refused() {
    let e = Config::from_sources(&env(&[
        ("GAZETTE_CONFIG", "/dev/null"),
        ("GAZETTE_SECRET", "tooshort-but-secret"),
    ]))
    .unwrap_err()
    .to_string();
    assert!(e.contains("GAZETTE_SECRET") && e.contains("32"), "{e}");
    assert!(e.contains("openssl rand -hex 32"), "{e}");
    assert!(!e.contains("tooshort-but-secret"), "{e}");
    let long = "0123456789abcdef0123456789abcdef";
    let c = Config::from_sources(&env(&[
        ("GAZETTE_CONFIG", "/dev/null"),
        ("GAZETTE_SECRET", long),
    ]))
    .unwrap();
    assert_eq!(c.secret.expose(), long);
    let c = Config::from_sources(&env(&[("GAZETTE_CONFIG", "/dev/null")])).unwrap();
    assert!(c.secret.is_empty());
}

/// `{:?}` of a configuration (in a log, a panic, a test failure) shows no
/// password, token key, inbound secret or metrics token.
#[test]
fn debug_output_holds_no_secret() {
    let c = Config::from_sources(&env(&[
        ("GAZETTE_CONFIG", "/dev/null"),
        (
            "GAZETTE_SMTP_URL",
            "smtps://mailer:relay-pass-1234@mail.example.net",
        ),
        (
            "GAZETTE_DATABASE_URL",
            "postgres://gz:db-pass-5678@db.example.net/gz",
        ),
        ("GAZETTE_SECRET", "token-key-0123456789abcdef0123456789"),
        ("GAZETTE_INBOUND_SECRET", "inbound-secret-abcdef"),
        ("GAZETTE_METRICS_TOKEN", "metrics-token-0123456789"),
    ]))
    .unwrap();
    let shown = format!("{c:?}\n{c:#?}\n{:?}", c.smtp);
    for secret in [
        "relay-pass-1234",
        "db-pass-5678",
        "token-key-0123456789abcdef0123456789",
        "inbound-secret-abcdef",
        "metrics-token-0123456789",
    ] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    // What is not secret is still there to debug with.
    assert!(
        shown.contains("mail.example.net") && shown.contains("mailer"),
        "{shown}"
    );
}

#[test]
fn loopback_hosts() {
    for h in [
        "localhost",
        "LOCALHOST",
        "127.0.0.1",
        "127.9.9.9",
        "::1",
        "[::1]",
    ] {
        assert!(is_loopback_host(h), "{h}");
    }
    for h in [
        "relay.example.org",
        "10.0.0.1",
        "localhost.example.org",
        "::",
    ] {
        assert!(!is_loopback_host(h), "{h}");
    }
}

#[test]
fn dkim_is_off_by_default_and_on_with_a_key() {
    let c = Config::from_sources(&env(&[("GAZETTE_CONFIG", "/dev/null")])).unwrap();
    assert_eq!(c.dkim, None);
    let c = Config::from_sources(&env(&[
        ("GAZETTE_CONFIG", "/dev/null"),
        ("GAZETTE_DKIM_KEY", "/etc/gazette/dkim.pem"),
    ]))
    .unwrap();
    assert_eq!(
        c.dkim,
        Some(DkimSettings {
            key: "/etc/gazette/dkim.pem".into(),
            key_setting: "GAZETTE_DKIM_KEY".into(),
            selector: "gazette".into(),
            domain: None,
        })
    );
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("g.toml");
    std::fs::write(
        &p,
        "dkim_key = \"dkim.pem\"\ndkim_selector = \"S2026\"\ndkim_domain = \"Example.ORG.\"\n",
    )
    .unwrap();
    let path = p.display().to_string();
    let d = Config::from_sources(&env(&[("GAZETTE_CONFIG", &path)]))
        .unwrap()
        .dkim
        .unwrap();
    assert_eq!(d.key_setting, "dkim_key in gazette.toml");
    assert_eq!(d.selector, "s2026");
    assert_eq!(d.domain.as_deref(), Some("example.org"));
    // The environment wins, and an empty key turns signing off again.
    let c =
        Config::from_sources(&env(&[("GAZETTE_CONFIG", &path), ("GAZETTE_DKIM_KEY", "")])).unwrap();
    assert_eq!(c.dkim, None);
}

#[test]
fn bad_dkim_names_name_the_setting() {
    for (setting, value) in [
        ("GAZETTE_DKIM_SELECTOR", ""),
        ("GAZETTE_DKIM_SELECTOR", "my selector"),
        ("GAZETTE_DKIM_SELECTOR", "-x"),
        ("GAZETTE_DKIM_DOMAIN", "localhost"),
        ("GAZETTE_DKIM_DOMAIN", "lists.example.org/x"),
        ("GAZETTE_DKIM_DOMAIN", "pm@lists.example.org"),
    ] {
        let e = Config::from_sources(&env(&[
            ("GAZETTE_CONFIG", "/dev/null"),
            ("GAZETTE_DKIM_KEY", "dkim.pem"),
            (setting, value),
        ]))
        .unwrap_err()
        .to_string();
        assert!(e.contains(setting), "{setting}={value:?}: {e}");
    }
}

#[test]
fn typos_and_unreachable_links_are_warned_about() {
    let c = Config::from_sources(&env(&[
        ("GAZETTE_CONFIG", "/dev/null"),
        ("GAZETTE_SMPT_URL", "smtp://relay:25"),
        ("GAZETTE_HTTP_ADDR", "0.0.0.0:8080"),
        ("GAZETTE_TEST_POSTGRES_URL", "postgres://x/y"),
    ]))
    .unwrap();
    assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
    assert!(
        c.warnings[0].contains("GAZETTE_SMPT_URL"),
        "{:?}",
        c.warnings
    );
    assert!(
        c.warnings[1].contains("GAZETTE_BASE_URL"),
        "{:?}",
        c.warnings
    );
    let c = Config::from_sources(&env(&[
        ("GAZETTE_CONFIG", "/dev/null"),
        ("GAZETTE_HTTP_ADDR", "localhost:8081"),
    ]))
    .unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.http_addr.to_string(), "127.0.0.1:8081");
}

#[test]
fn connection_limits_have_defaults_and_name_themselves() {
    let c = Config::from_sources(&env(&[("GAZETTE_CONFIG", "/dev/null")])).unwrap();
    assert_eq!(c.http_max_connections, 512);
    assert_eq!(c.http_header_timeout, Duration::from_secs(10));
    assert_eq!(c.inbound_command_timeout, Duration::from_secs(30));
    assert_eq!(c.inbound_idle_timeout, Duration::from_secs(300));
    assert_eq!(c.inbound_max_per_client, 10);
    assert_eq!(c.inbound_connects_per_minute, 60);
    assert_eq!(c.metrics_addr, None);
    assert!(c.metrics_token.is_empty());
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);

    let c = Config::from_sources(&env(&[
        ("GAZETTE_CONFIG", "/dev/null"),
        ("GAZETTE_HTTP_MAX_CONNECTIONS", "64"),
        ("GAZETTE_HTTP_HEADER_TIMEOUT_SECS", "3"),
        ("GAZETTE_INBOUND_COMMAND_TIMEOUT_SECS", "5"),
        ("GAZETTE_INBOUND_MAX_PER_CLIENT", "3"),
        ("GAZETTE_INBOUND_CONNECTS_PER_MINUTE", "0"),
        ("GAZETTE_METRICS_ADDR", "127.0.0.1:9090"),
        ("GAZETTE_METRICS_TOKEN", "0123456789abcdef0123"),
    ]))
    .unwrap();
    assert!(c.warnings.is_empty(), "known, not typos: {:?}", c.warnings);
    assert_eq!(c.http_max_connections, 64);
    assert_eq!(c.http_header_timeout, Duration::from_secs(3));
    assert_eq!(c.inbound_command_timeout, Duration::from_secs(5));
    assert_eq!(c.inbound_max_per_client, 3);
    assert_eq!(c.inbound_connects_per_minute, 0);
    assert_eq!(c.metrics_addr.unwrap().to_string(), "127.0.0.1:9090");
    assert_eq!(c.metrics_token.expose(), "0123456789abcdef0123");

    for (setting, value) in [
        ("GAZETTE_HTTP_MAX_CONNECTIONS", "0"),
        ("GAZETTE_HTTP_MAX_CONNECTIONS", "lots"),
        ("GAZETTE_HTTP_HEADER_TIMEOUT_SECS", "0"),
        ("GAZETTE_INBOUND_COMMAND_TIMEOUT_SECS", "0"),
        ("GAZETTE_INBOUND_MAX_PER_CLIENT", "0"),
        ("GAZETTE_INBOUND_MAX_PER_CLIENT", "257"),
        ("GAZETTE_INBOUND_CONNECTS_PER_MINUTE", "-1"),
        ("GAZETTE_METRICS_ADDR", "localhost"),
        ("GAZETTE_METRICS_TOKEN", "short"),
        ("GAZETTE_METRICS_TOKEN", "has a space in it, sadly"),
    ] {
        let e = Config::from_sources(&env(&[("GAZETTE_CONFIG", "/dev/null"), (setting, value)]))
            .unwrap_err()
            .to_string();
        assert!(e.contains(setting), "{setting}={value:?}: {e}");
    }
    // A rejected token is not echoed back.
    let e = Config::from_sources(&env(&[
        ("GAZETTE_CONFIG", "/dev/null"),
        ("GAZETTE_METRICS_TOKEN", "secretish"),
    ]))
    .unwrap_err()
    .to_string();
    assert!(!e.contains("secretish"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("g.toml");
    std::fs::write(
        &p,
        "inbound_max_per_client = 4\nmetrics_addr = \"127.0.0.1:9191\"\n",
    )
    .unwrap();
    let c = Config::from_sources(&env(&[("GAZETTE_CONFIG", &p.display().to_string())])).unwrap();
    assert_eq!(c.inbound_max_per_client, 4);
    assert_eq!(c.metrics_addr.unwrap().port(), 9191);
}

#[test]
fn sender_authentication_settings() {
    let c = Config::from_sources(&env(&[("GAZETTE_CONFIG", "/dev/null")])).unwrap();
    assert_eq!(c.sender_auth, SenderAuthMode::Dns);
    assert!(c.trusted_authserv_ids.is_empty());
    assert_eq!(c.reply_token_max_age, Duration::from_secs(365 * 86_400));
    let c = Config::from_sources(&env(&[
        ("GAZETTE_CONFIG", "/dev/null"),
        ("GAZETTE_SENDER_AUTH", "OFF"),
        (
            "GAZETTE_TRUSTED_AUTHSERV_IDS",
            " MX1.example.org, mx2.example.org ,",
        ),
        ("GAZETTE_REPLY_TOKEN_DAYS", "30"),
    ]))
    .unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(c.sender_auth, SenderAuthMode::Off);
    assert_eq!(
        c.trusted_authserv_ids,
        ["mx1.example.org", "mx2.example.org"]
    );
    assert_eq!(c.reply_token_max_age, Duration::from_secs(30 * 86_400));
    for (setting, value) in [
        ("GAZETTE_SENDER_AUTH", "maybe"),
        ("GAZETTE_TRUSTED_AUTHSERV_IDS", "mx.example.org; dkim=pass"),
        ("GAZETTE_REPLY_TOKEN_DAYS", "0"),
    ] {
        let e = Config::from_sources(&env(&[("GAZETTE_CONFIG", "/dev/null"), (setting, value)]))
            .unwrap_err()
            .to_string();
        assert!(e.contains(setting), "{setting}={value:?}: {e}");
    }
}

#[test]
fn a_syntax_error_in_the_file_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("g.toml");
    std::fs::write(&p, "workers = 3\n\nsmtp_url = \"smtp://relay\n").unwrap();
    let path = p.display().to_string();
    let e = Config::from_sources(&env(&[("GAZETTE_CONFIG", &path)]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("at line 3, column"), "{e}");
}

#[test]
fn an_address_error_says_which_half_is_wrong() {
    let err = |v: &str| {
        Config::from_sources(&env(&[
            ("GAZETTE_CONFIG", "/dev/null"),
            ("GAZETTE_HTTP_ADDR", v),
        ]))
        .unwrap_err()
        .to_string()
    };
    let e = err("localhost:80800");
    assert!(e.contains("port 80800 is out of range"), "{e}");
    assert!(!e.contains("not an IP"), "{e}");
    assert!(err("127.0.0.1:http").contains("`http` is not a port number"));
    assert!(err("example.org:80").contains("`example.org` is not an IP address"));
    assert!(err("127.0.0.1").contains("no port"));
}
