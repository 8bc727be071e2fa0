//! The world a run sends into: a scratch database (a SQLite file in a
//! temporary directory, or a PostgreSQL database created for the run and
//! dropped after), gazette's configuration, a list of N digest members
//! with a real issue to send, and one rendered copy of it for the ceiling.

use gazette::app::{Ctx, List};
use gazette::store::digests::DigestRow;
use gazette::store::outbox::OutboxRow;
use sqlx::Connection;
use std::path::{Path, PathBuf};

/// Where the run's data lives; [`Scratch::drop_now`] removes it.
pub struct Scratch {
    pub url: String,
    pub label: &'static str,
    /// PostgreSQL: the server URL to drop the database from, and its name.
    postgres: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl Scratch {
    pub fn sqlite() -> Scratch {
        let dir = tempfile::tempdir().expect("a temporary directory");
        Scratch {
            url: format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("bench.db").display()
            ),
            label: "sqlite",
            postgres: None,
            _dir: Some(dir),
        }
    }

    /// A fresh database on the server `admin_url` points at. Databases left
    /// by bench runs that died are dropped first.
    pub async fn postgres(admin_url: &str) -> anyhow::Result<Scratch> {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(admin_url).await?;
        let stale: Vec<String> = sqlx::query_scalar(
            "SELECT datname FROM pg_database WHERE datname LIKE 'gazette_bench_%'",
        )
        .fetch_all(&mut conn)
        .await?;
        for db in stale {
            let pid = db.rsplit('_').next().unwrap_or("");
            if !Path::new(&format!("/proc/{pid}")).exists() {
                drop_database(&mut conn, &db).await;
            }
        }
        let name = format!("gazette_bench_{}", std::process::id());
        drop_database(&mut conn, &name).await;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await?;
        let base = admin_url
            .rsplit_once('/')
            .map(|(b, _)| b)
            .unwrap_or(admin_url);
        Ok(Scratch {
            url: format!("{base}/{name}"),
            label: "postgres",
            postgres: Some((admin_url.to_string(), name)),
            _dir: None,
        })
    }

    /// PostgreSQL: the server processes serving this database (their CPU
    /// time is part of what a message costs).
    pub async fn backend_pids(&self) -> Vec<i64> {
        let Some((admin, name)) = &self.postgres else {
            return Vec::new();
        };
        let Ok(mut conn) = sqlx::AnyConnection::connect(admin).await else {
            return Vec::new();
        };
        let pids: Vec<i32> =
            sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE datname = $1")
                .bind(name.as_str())
                .fetch_all(&mut conn)
                .await
                .unwrap_or_default();
        pids.into_iter().map(i64::from).collect()
    }

    pub async fn drop_now(self) {
        if let Some((admin, name)) = &self.postgres {
            if let Ok(mut conn) = sqlx::AnyConnection::connect(admin).await {
                drop_database(&mut conn, name).await;
            }
        }
    }
}

async fn drop_database(conn: &mut sqlx::AnyConnection, name: &str) {
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(conn)
    .await;
}

/// gazette's configuration for a run, as an operator would set it:
/// `connections` relay connections, DKIM when `dkim_key` is given, and any
/// other `GAZETTE_*` setting from the bench's environment (for trying
/// `GAZETTE_WORKERS` or `GAZETTE_BATCH_SIZE`).
pub fn config(
    db: &Scratch,
    smtp_url: &str,
    connections: usize,
    dkim_key: Option<&Path>,
) -> gazette::config::Config {
    const SET_HERE: [&str; 5] = [
        "GAZETTE_DATABASE_URL",
        "GAZETTE_SMTP_URL",
        "GAZETTE_SMTP_MAX_CONNECTIONS",
        "GAZETTE_DKIM_KEY",
        "GAZETTE_CONFIG",
    ];
    let mut env: Vec<(String, String)> = vec![
        ("GAZETTE_CONFIG".into(), "/dev/null".into()),
        ("GAZETTE_DATABASE_URL".into(), db.url.clone()),
        ("GAZETTE_SMTP_URL".into(), smtp_url.into()),
        (
            "GAZETTE_SMTP_MAX_CONNECTIONS".into(),
            connections.to_string(),
        ),
        (
            "GAZETTE_BASE_URL".into(),
            "https://lists.example.org".into(),
        ),
        ("GAZETTE_HOSTNAME".into(), "gazette.bench".into()),
    ];
    if let Some(key) = dkim_key {
        env.push(("GAZETTE_DKIM_KEY".into(), key.display().to_string()));
    }
    for (k, v) in std::env::vars() {
        let ours = k.starts_with("GAZETTE_BENCH_") || k.starts_with("GAZETTE_TEST_");
        if k.starts_with("GAZETTE_") && !ours && !SET_HERE.contains(&k.as_str()) {
            env.retain(|(n, _)| *n != k);
            env.push((k, v));
        }
    }
    gazette::config::Config::from_sources(&env).expect("the bench's configuration is valid")
}

/// The list with `members` active digest members (`m0@example.org` …)
/// and three new questions, one of them about 7 KB, so every copy carries
/// three reply addresses signed for its reader. Returns the list and the
/// approved (frozen) issue, not yet released.
pub async fn seed(ctx: &Ctx, members: usize) -> anyhow::Result<(List, DigestRow)> {
    let spec = gazette::lists::ListSpec {
        address: "pm@lists.example.org",
        name: "PM Circle",
        schedule: "0 8 * * MON",
        timezone: "UTC",
        require_approval: false,
    };
    let list = gazette::lists::create(ctx, &spec).await?;
    add_members(ctx, &list, members).await?;
    let long = long_question();
    let questions = [
        ("How far ahead do you keep a roadmap?", long.as_str()),
        ("Estimating with story points", "Does anyone still estimate in story points, or did you move to counting items? What changed?"),
        ("Handing over a programme", "I am handing over a programme mid-flight next month. What do you put in the handover pack?"),
    ];
    for (i, (subject, body)) in questions.iter().enumerate() {
        let email = format!("m{i}@example.org");
        let author = ctx
            .store
            .member_by_email(list.id(), &email)
            .await?
            .ok_or_else(|| anyhow::anyhow!("{email} was not added"))?;
        let post = gazette::posts::Post {
            inbound_id: None,
            subject,
            body,
            message_id: &format!("<bench-q{i}@example.org>"),
        };
        gazette::posts::ask(ctx, &list, &author, &post).await?;
    }
    let issue = gazette::digest::send::approve(ctx, &list).await?;
    Ok((list, issue))
}

/// Adds members through the same domain function as `gazette member add`;
/// on PostgreSQL several at once (SQLite writes one at a time anyway).
async fn add_members(ctx: &Ctx, list: &List, n: usize) -> anyhow::Result<()> {
    let parallel = match ctx.store.backend() {
        gazette::store::Backend::Sqlite => 1,
        gazette::store::Backend::Postgres => 8,
    };
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let (ctx, list) = (ctx.clone(), list.clone());
        tasks.spawn(async move {
            let e = gazette::email::EmailAddress::parse(&format!("m{i}@example.org"))?;
            gazette::membership::add(
                &ctx,
                &list,
                &e,
                &format!("Member {i}"),
                gazette::store::DeliveryMode::Digest,
                "bench",
            )
            .await?;
            anyhow::Ok(())
        });
        while tasks.len() >= parallel {
            tasks.join_next().await.expect("a task")??;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// A question of about 7 KB, written the way members write: paragraphs,
/// a list, a sign-off.
pub fn long_question() -> String {
    const PARAGRAPHS: [&str; 6] = [
        "We are a product organisation of about forty people across four teams, and every quarter the same argument comes back: leadership wants a twelve-month roadmap with dates, the teams want to commit to six weeks at most, and I sit in the middle translating one into the other. Last quarter we published a twelve-month view with confidence bands, and within a month half of it was wrong, which cost us more trust than if we had published nothing at all.",
        "What I would like to learn from this group is how far ahead you keep a roadmap that people actually rely on, and how you present the parts that are uncertain. Do you split it into now / next / later, do you put dates on anything beyond the current quarter, and how do you stop sales from promising the 'later' column to customers as if it were a commitment?",
        "Some context on what we tried so far:\n- a theme-based roadmap with no dates, which leadership rejected as too vague to plan hiring against;\n- a dated roadmap with confidence levels (high, medium, low), which people read as dates anyway;\n- a rolling six-month plan refreshed monthly, which was accurate but took two days of my time every month to keep current;\n- separate internal and external versions, which drifted apart within weeks and confused everyone.",
        "I am also curious how you handle dependencies between teams. Two of our teams depend on a platform team whose own roadmap changes often, and a slip there ripples through everything downstream. We tried a shared dependency board, but it became one more artefact nobody updated. If you have found a lightweight way to keep cross-team dependencies visible without a weekly meeting, I would love to hear it.",
        "Finally, how do you measure whether the roadmap is doing its job? We have talked about tracking the share of roadmap items delivered within a quarter of their original estimate, but that seems to reward padding estimates rather than planning well. Others suggested measuring how often stakeholders ask 'when will X ship', on the theory that a good roadmap answers that question before it is asked.",
        "Any examples, templates or war stories are welcome, including what did not work for you. I will collect the answers and share a summary back with the group in a few weeks, anonymised unless you tell me otherwise.\n\nThanks in advance,\nMember 0, Head of Product",
    ];
    let mut text = String::new();
    while text.len() < 7000 {
        for p in PARAGRAPHS {
            if !text.is_empty() {
                text.push_str("\n\n");
            }
            text.push_str(p);
        }
    }
    text
}

/// The outbox row the release will create for `member`, as the worker
/// claims it (the id is made up: it only names the message).
pub fn digest_row(list: &List, issue: &DigestRow, member_id: i64, email: &str) -> OutboxRow {
    let now = gazette::now_ms();
    OutboxRow {
        id: 1,
        dedupe_key: format!("digest:{}:{member_id}", issue.id),
        list_id: list.id(),
        member_id: Some(member_id),
        recipient: email.to_string(),
        kind: gazette::store::OutboxKind::Digest,
        ref_id: Some(issue.id),
        payload: "{}".into(),
        attempts: 1,
        retry_since: now,
        created_at: now,
    }
}

/// One member's copy of the issue, exactly as the worker builds it
/// (rendered, composed, DKIM-signed when a key is set), written to a file
/// with LF line ends for `smtp-source -F` (which sends each line with
/// CRLF). Returns the file and the message's size in bytes.
pub async fn sample_message(
    ctx: &Ctx,
    list: &List,
    issue: &DigestRow,
    dir: &Path,
) -> anyhow::Result<(PathBuf, usize)> {
    let m = ctx
        .store
        .member_by_email(list.id(), "m1@example.org")
        .await?
        .ok_or_else(|| anyhow::anyhow!("m1@example.org is missing"))?;
    let row = digest_row(list, issue, m.id, &m.email);
    let bytes = build(ctx, &row, true).await?;
    let path = dir.join("digest.eml");
    let text = String::from_utf8_lossy(&bytes).replace("\r\n", "\n");
    std::fs::write(&path, text)?;
    Ok((path, bytes.len()))
}

/// render → compose → DKIM-sign (when `sign` and a key is set), as the
/// worker does.
pub async fn build(ctx: &Ctx, row: &OutboxRow, sign: bool) -> anyhow::Result<Vec<u8>> {
    let (outgoing, _envelope_from) = gazette::outbound::render::render(ctx, row)
        .await
        .map_err(|e| anyhow::anyhow!("render: {e}"))?;
    let bytes = gazette::outbound::compose::build(&outgoing)?;
    Ok(match ctx.dkim.as_ref().filter(|_| sign) {
        Some(dkim) => dkim.sign(&dkim.domain_for(&outgoing.from_addr)?, &bytes)?,
        None => bytes,
    })
}
