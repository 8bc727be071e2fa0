//! `cargo bench`: how fast a digest reaches N members through gazette's
//! whole outbound pipeline (outbox claim → render per member → compose →
//! SMTP → record) into an SMTP server on loopback, against two references
//! measured in the same run, on the same machine, into the same kind of
//! server:
//!
//! - *transport*: gazette's own SMTP pool sending N pre-built messages (no
//!   database, no rendering): what the pipeline costs on top of the wire;
//! - *lettre stock*: lettre's pooled transport sending N pre-built
//!   messages, as a naive integration would (it never sets TCP_NODELAY).
//!
//! Rounds alternate the three so a noisy neighbour hurts them alike;
//! figures are medians, printed as messages per second and as ratios.
//! `GAZETTE_BENCH_MEMBERS` (default 2000) and `GAZETTE_BENCH_ROUNDS`
//! (default 3) change the size.

#[path = "../it/common/mod.rs"]
mod common;

use common::{seed_list, sink::Sink, sink::SinkBehaviour, sqlite_db, test_config};
use gazette::app::Ctx;
use gazette::outbound::transport::Transport;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONNECTIONS: usize = 4;

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let n = env_num("GAZETTE_BENCH_MEMBERS", 2000);
    let rounds = env_num("GAZETTE_BENCH_ROUNDS", 3).max(1);
    let (mut ours, mut wire, mut stock) = (Vec::new(), Vec::new(), Vec::new());
    rt.block_on(async {
        for _ in 0..rounds {
            ours.push(gazette_pipeline(n).await);
            wire.push(gazette_transport(n).await);
            stock.push(lettre_stock(n).await);
        }
    });
    let (ours, wire, stock) = (median(ours), median(wire), median(stock));
    println!(
        "digest to {n} members, SMTP on loopback, {CONNECTIONS} connections, median of {rounds}:"
    );
    println!("  gazette pipeline (SQLite claim, render, send, record): {ours:>8.0} msg/s");
    println!("  reference: gazette transport alone, pre-built mail:    {wire:>8.0} msg/s");
    println!("  reference: lettre stock pool, pre-built mail:          {stock:>8.0} msg/s");
    println!("  pipeline / transport alone: {:>6.2}", ours / wire);
    println!("  pipeline / lettre stock:    {:>6.2}", ours / stock);
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

async fn wait_until(sink: &Sink, count: usize) {
    while sink.count() < count {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn gazette_pipeline(n: usize) -> f64 {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let db = sqlite_db();
    let connections = CONNECTIONS.to_string();
    let extra = [
        ("GAZETTE_SMTP_MAX_CONNECTIONS", connections.as_str()),
        ("GAZETTE_WORKERS", "2"),
    ];
    let ctx = Ctx::open(test_config(&db, &sink.url(), &extra))
        .await
        .unwrap();
    let list = seed_list(&ctx, n).await;
    let transport = Arc::new(Transport::new(&ctx.config.smtp, "bench", CONNECTIONS, 0));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers = tokio::spawn(gazette::outbound::worker::run(
        ctx.clone(),
        transport,
        stopped,
    ));
    // The acknowledgement goes first, so only the digest is timed.
    wait_until(&sink, 1).await;
    let start = Instant::now();
    gazette::digest::send::send_now(&ctx, &list).await.unwrap();
    wait_until(&sink, n + 1).await;
    let secs = start.elapsed().as_secs_f64();
    let _ = stop.send(true);
    let _ = workers.await;
    n as f64 / secs
}

/// A digest-sized message for member `i`.
fn prebuilt(i: usize) -> Vec<u8> {
    lettre::Message::builder()
        .from("PM Circle <pm@lists.example.org>".parse().unwrap())
        .to(format!("m{i}@example.org").parse().unwrap())
        .subject("PM Circle digest")
        .body(format!("Digest for member {i}\n{}", "text ".repeat(400)))
        .unwrap()
        .formatted()
}

async fn gazette_transport(n: usize) -> f64 {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let target = gazette::config::SmtpTarget::Relay {
        host: sink.addr.ip().to_string(),
        port: sink.addr.port(),
        tls: gazette::config::SmtpTls::None,
        credentials: None,
    };
    let transport = Arc::new(Transport::new(&target, "bench", CONNECTIONS, 0));
    let mail: Vec<Vec<u8>> = (0..n).map(prebuilt).collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, m) in mail.into_iter().enumerate() {
        let t = transport.clone();
        tasks.spawn(async move {
            let to = format!("m{i}@example.org");
            t.send("pm@lists.example.org", &to, "", &m, deadline)
                .await
                .unwrap();
        });
        while tasks.len() >= CONNECTIONS * 2 {
            tasks.join_next().await;
        }
    }
    while tasks.join_next().await.is_some() {}
    let rate = n as f64 / start.elapsed().as_secs_f64();
    transport.close().await;
    rate
}

async fn lettre_stock(n: usize) -> f64 {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let transport =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(sink.addr.ip().to_string())
            .port(sink.addr.port())
            .pool_config(lettre::transport::smtp::PoolConfig::new().max_size(CONNECTIONS as u32))
            .build();
    let mail: Vec<Vec<u8>> = (0..n).map(prebuilt).collect();
    let transport = Arc::new(transport);
    let sem = Arc::new(tokio::sync::Semaphore::new(CONNECTIONS));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, m) in mail.into_iter().enumerate() {
        let (t, permit) = (
            transport.clone(),
            sem.clone().acquire_owned().await.unwrap(),
        );
        tasks.spawn(async move {
            let envelope = lettre::address::Envelope::new(
                Some("pm@lists.example.org".parse().unwrap()),
                vec![format!("m{i}@example.org").parse().unwrap()],
            )
            .unwrap();
            t.send_raw(&envelope, &m).await.unwrap();
            drop(permit);
        });
    }
    while tasks.join_next().await.is_some() {}
    n as f64 / start.elapsed().as_secs_f64()
}
