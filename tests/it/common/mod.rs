//! Test helpers: fresh databases (SQLite file, or PostgreSQL when
//! `GAZETTE_TEST_POSTGRES_URL` is set), the whole app on free ports
//! (`spawn_app`), an SMTP server that records what gazette sends, and
//! small SMTP and HTTP clients.
#![allow(dead_code, unused_imports)]

pub mod browser;
pub mod sink;
pub mod web;

use gazette::config::Config;
use gazette::serve::{start, Running};
use std::time::Duration;

pub use sink::{ends_with_data, Sink, SinkBehaviour, SlowDataProxy};

/// The list every test uses.
pub const LIST_ADDRESS: &str = "pm@lists.example.org";

/// A fresh, empty database for one test.
pub struct TestDb {
    pub url: String,
    pub label: &'static str,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A SQLite database at `url`, in a directory the test owns.
    pub fn at(url: &str) -> TestDb {
        TestDb {
            url: url.to_string(),
            label: "sqlite",
            _dir: None,
        }
    }
}

/// True under CI (`CI=true`), where nothing a test needs may be missing.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Something a test needs is not here: on a developer's laptop the test
/// (or its variant) is skipped with this message; under `CI=true` it fails,
/// so a green CI run cannot come from skipping.
pub fn missing(what: &str) {
    if in_ci() {
        panic!("CI=true, but {what}: this test cannot be skipped in CI");
    }
    eprintln!("note: {what}: skipped (set CI=true to make this a failure)");
}

/// `../shared/corpora/<name>` beside the repository, when it is there
/// (see [`missing`] for what happens when it is not).
pub fn corpus(name: &str) -> Option<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpora")
        .join(name);
    if dir.is_dir() {
        return Some(dir);
    }
    missing(&format!("the corpus {} is not there", dir.display()));
    None
}

/// The PostgreSQL server the tests may use, if any.
pub fn postgres_url() -> Option<String> {
    match std::env::var("GAZETTE_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            missing("GAZETTE_TEST_POSTGRES_URL is not set, so the PostgreSQL variant");
            None
        }
    }
}

/// The databases every integration test runs on: SQLite always, PostgreSQL
/// when `GAZETTE_TEST_POSTGRES_URL` is set (`.ci/run` sets it).
pub async fn databases() -> Vec<TestDb> {
    let mut dbs = vec![sqlite_db()];
    if let Some(url) = postgres_url() {
        dbs.push(postgres_db(&url).await);
    }
    dbs
}

pub fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("gazette.db").display()
    );
    TestDb {
        url,
        label: "sqlite",
        _dir: Some(dir),
    }
}

/// Creates a uniquely named database on the server, so tests never share state.
pub async fn postgres_db(admin_url: &str) -> TestDb {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let name = format!(
        "gazette_t_{}_{:08x}",
        std::process::id(),
        rand::random::<u32>()
    );
    let mut conn = sqlx::AnyConnection::connect(admin_url)
        .await
        .unwrap_or_else(|e| {
            panic!("GAZETTE_TEST_POSTGRES_URL={admin_url} is set but unreachable: {e}")
        });
    // Databases of test processes that have ended are dropped here, so runs do not pile up.
    let stale: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'gazette_t_%'")
            .fetch_all(&mut conn)
            .await
            .unwrap_or_default();
    for db in stale {
        let pid = db.split('_').nth(2).unwrap_or("");
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await;
        }
    }
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b)
        .unwrap_or(admin_url);
    TestDb {
        url: format!("{base}/{name}"),
        label: "postgres",
        _dir: None,
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A configuration for tests: fast scheduler, short leases, given outbound.
pub fn test_config(db: &TestDb, smtp_url: &str, extra: &[(&str, &str)]) -> Config {
    // Port 0: the listener takes a free port when it binds (no race with
    // other tests for a port chosen earlier), and links follow it.
    let http = "127.0.0.1:0".to_string();
    let mut env: Vec<(String, String)> = vec![
        ("GAZETTE_CONFIG".into(), "/dev/null".into()),
        ("GAZETTE_DATABASE_URL".into(), db.url.clone()),
        ("GAZETTE_SMTP_URL".into(), smtp_url.into()),
        ("GAZETTE_HTTP_ADDR".into(), http.clone()),
        ("GAZETTE_INBOUND_ADDR".into(), "127.0.0.1:0".into()),
        ("GAZETTE_SCHEDULER_TICK_MS".into(), "200".into()),
        ("GAZETTE_HOSTNAME".into(), "gazette.test".into()),
    ];
    for (k, v) in extra {
        env.retain(|(n, _)| n != k);
        env.push((k.to_string(), v.to_string()));
    }
    Config::from_sources(&env).unwrap()
}

pub async fn spawn_app(db: &TestDb, smtp_url: &str, extra: &[(&str, &str)]) -> Running {
    start(test_config(db, smtp_url, extra))
        .await
        .expect("gazette starts")
}

/// Creates the list `pm@lists.example.org` named "PM Circle".
pub async fn create_list(app: &Running, schedule: &str) {
    let ctx = &app.ctx;
    let id = ctx
        .store
        .insert_list(&gazette::store::lists::NewList {
            address: "pm@lists.example.org",
            name: "PM Circle",
            schedule,
            timezone: "UTC",
            require_approval: false,
            next_digest_at: None,
        })
        .await
        .unwrap();
    assert!(id > 0);
}

/// Creates `pm@lists.example.org` with `members` digest members
/// (`m0@example.org`, … named "Member N") and one question from m0, so a
/// digest has content and m0 has an acknowledgement queued.
pub async fn seed_list(ctx: &gazette::app::Ctx, members: usize) -> gazette::app::List {
    let spec = gazette::lists::ListSpec {
        address: "pm@lists.example.org",
        name: "PM Circle",
        schedule: "0 8 * * MON",
        timezone: "UTC",
        require_approval: false,
    };
    let list = gazette::lists::create(ctx, &spec).await.unwrap();
    for i in 0..members {
        let e = gazette::email::EmailAddress::parse(&format!("m{i}@example.org")).unwrap();
        gazette::membership::add(
            ctx,
            &list,
            &e,
            &format!("Member {i}"),
            gazette::store::DeliveryMode::Digest,
            "test",
        )
        .await
        .unwrap();
    }
    ask_as(
        ctx,
        &list,
        "m0@example.org",
        "Roadmaps?",
        "<q1@example.org>",
    )
    .await;
    list
}

/// Member `email` asks a question (as if it arrived by mail).
pub async fn ask_as(
    ctx: &gazette::app::Ctx,
    list: &gazette::app::List,
    email: &str,
    subject: &str,
    message_id: &str,
) {
    let author = ctx
        .store
        .member_by_email(list.id(), email)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{email} is a member"));
    let post = gazette::posts::Post {
        inbound_id: None,
        subject,
        body: "How far ahead do you plan?",
        message_id,
    };
    gazette::posts::ask(ctx, list, &author, &post)
        .await
        .unwrap();
}

/// Runs the `gazette` binary with `env`; asserts it succeeds, returns stdout.
pub fn gazette_cmd(env: &[(String, String)], args: &[&str], stdin: Option<&[u8]>) -> String {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gazette"));
    cmd.args(args)
        .envs(env.iter().cloned())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("gazette runs");
    if let Some(input) = stdin {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "gazette {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Starts `gazette serve` with `env` (stderr shown, for failures).
pub fn gazette_serve(env: &[(String, String)]) -> Served {
    Served(
        std::process::Command::new(env!("CARGO_BIN_EXE_gazette"))
            .arg("serve")
            .envs(env.iter().cloned())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("gazette serve starts"),
    )
}

/// A `gazette serve` child that is killed when dropped, so a failing test
/// never leaves a server running after it.
pub struct Served(pub std::process::Child);

impl std::ops::Deref for Served {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for Served {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Runs the delivery workers of `ctx` (with its configured transport)
/// until the returned sender is told to stop.
pub fn start_workers(
    ctx: &gazette::app::Ctx,
) -> (
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    let c = &ctx.config;
    let transport = std::sync::Arc::new(gazette::outbound::transport::Transport::new(
        &c.smtp,
        &c.hostname,
        c.smtp_max_connections,
        c.smtp_rate_per_sec,
    ));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(gazette::outbound::worker::run(
        ctx.clone(),
        transport,
        stopped,
    ));
    (stop, task)
}

/// The `.eml` files in `dir`, once there are `n` of them.
pub async fn eml_files(dir: &std::path::Path, n: usize) -> Vec<std::path::PathBuf> {
    wait_for(30, &format!("{n} .eml files"), || async {
        let files: Vec<_> = std::fs::read_dir(dir)
            .map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        (files.len() == n).then_some(files)
    })
    .await
}

/// Waits for the first message to `to` that `matches`, then checks a
/// moment later that no second one came: a notice sent at most once.
pub async fn exactly_one(
    sink: &Sink,
    to: &str,
    what: &str,
    matches: impl Fn(&sink::Received) -> bool,
) {
    wait_for(10, what, || async {
        sink.to(to).into_iter().find(|m| matches(m))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let n = sink.to(to).into_iter().filter(|m| matches(m)).count();
    assert_eq!(n, 1, "{what}: expected exactly one to {to}, got {n}");
}

/// Sends `raw` over real SMTP (lettre) to gazette's listener.
pub async fn smtp_send(
    addr: std::net::SocketAddr,
    from: &str,
    to: &str,
    raw: &str,
) -> Result<(), lettre::transport::smtp::Error> {
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
        .port(addr.port())
        .build();
    // An empty `from` is the null sender `<>`, as bounces use.
    let sender = (!from.is_empty()).then(|| from.parse().unwrap());
    let envelope = lettre::address::Envelope::new(sender, vec![to.parse().unwrap()]).unwrap();
    transport
        .send_raw(&envelope, raw.as_bytes())
        .await
        .map(|_| ())
}

/// A plain message from `from` to `to`.
pub fn mail(from: &str, to: &str, subject: &str, body: &str, message_id: &str) -> String {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{}",
        body.replace('\n', "\r\n")
    )
}

/// Minimal HTTP/1.1 request; returns (status, body).
pub async fn http(method: &str, url: &str, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Polls `check` until it returns Some or `secs` pass.
pub async fn wait_for<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {secs} s waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
