//! `cargo bench`: delivery throughput of a digest to N members through
//! gazette's whole outbound pipeline (claim → render → compose → SMTP →
//! record) into an SMTP server on loopback, against a reference measured in
//! the same run: the same number of pre-built messages sent by lettre's
//! stock pooled transport (which does not set TCP_NODELAY). Figures are
//! printed as messages per second and as a ratio, since absolute numbers on
//! shared machines drift.

#[path = "../common/sink.rs"]
#[allow(dead_code)]
mod sink;

use gazette::app::Ctx;
use gazette::config::Config;
use gazette::outbound::transport::Transport;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use sink::{Sink, SinkBehaviour};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn members() -> usize {
    std::env::var("GAZETTE_BENCH_MEMBERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let n = members();
        let ours = gazette_pipeline(n).await;
        let reference = lettre_stock(n).await;
        println!("digest to {n} members, SMTP on loopback, 4 connections:");
        println!("  gazette pipeline (DB claim+render+send+record): {ours:>8.0} msg/s");
        println!("  reference: lettre stock pool, pre-built mail:   {reference:>8.0} msg/s");
        println!(
            "  ratio gazette / reference:                      {:>8.2}",
            ours / reference
        );
    });
}

async fn gazette_pipeline(n: usize) -> f64 {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<(String, String)> = [
        ("GAZETTE_CONFIG", "/dev/null".to_string()),
        (
            "GAZETTE_DATABASE_URL",
            format!("sqlite://{}?mode=rwc", dir.path().join("b.db").display()),
        ),
        ("GAZETTE_SMTP_URL", sink.url()),
        ("GAZETTE_SMTP_MAX_CONNECTIONS", "4".into()),
        ("GAZETTE_WORKERS", "2".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let config = Config::from_sources(&env).unwrap();
    let ctx = Ctx::open(config).await.unwrap();
    ctx.store
        .insert_list(&gazette::store::lists::NewList {
            address: "pm@lists.example.org",
            name: "PM Circle",
            schedule: "0 8 * * MON",
            timezone: "UTC",
            require_approval: false,
            next_digest_at: None,
        })
        .await
        .unwrap();
    let list = ctx.list_by_address("pm@lists.example.org").await.unwrap();
    for i in 0..n {
        let e = gazette::email::EmailAddress::parse(&format!("m{i}@example.org")).unwrap();
        gazette::membership::add(&ctx, &list, &e, "", "digest")
            .await
            .unwrap();
    }
    let author = ctx
        .store
        .member_by_email(list.id(), "m0@example.org")
        .await
        .unwrap()
        .unwrap();
    let body = "We keep missing launch risks.\n\nWhat pre-mortem format works for you?";
    gazette::posts::ask(
        &ctx,
        &list,
        &author,
        &gazette::posts::Post {
            inbound_id: None,
            subject: "Pre-mortems?",
            body,
            message_id: "<q@x>",
        },
    )
    .await
    .unwrap();
    // Deliver the acknowledgement first so only the digest is timed.
    let transport = Arc::new(Transport::new(&ctx.config.smtp, "bench", 4, 0));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers = tokio::spawn(gazette::outbound::worker::run(
        ctx.clone(),
        transport,
        stopped,
    ));
    while sink.count() < 1 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let start = Instant::now();
    gazette::digest::send::send_now(&ctx, &list).await.unwrap();
    while sink.count() < n + 1 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    let _ = stop.send(true);
    let _ = workers.await;
    n as f64 / secs
}

async fn lettre_stock(n: usize) -> f64 {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let transport =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(sink.addr.ip().to_string())
            .port(sink.addr.port())
            .pool_config(lettre::transport::smtp::PoolConfig::new().max_size(4))
            .build();
    let mail: Vec<_> = (0..n)
        .map(|i| {
            lettre::Message::builder()
                .from("PM Circle <pm@lists.example.org>".parse().unwrap())
                .to(format!("m{i}@example.org").parse().unwrap())
                .subject("PM Circle digest")
                .body(format!("Digest for member {i}\n{}", "text ".repeat(400)))
                .unwrap()
        })
        .collect();
    let transport = Arc::new(transport);
    let sem = Arc::new(tokio::sync::Semaphore::new(4));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for m in mail {
        let (t, permit) = (
            transport.clone(),
            sem.clone().acquire_owned().await.unwrap(),
        );
        tasks.spawn(async move {
            t.send(m).await.unwrap();
            drop(permit);
        });
    }
    while tasks.join_next().await.is_some() {}
    n as f64 / start.elapsed().as_secs_f64()
}
