//! The delivery benchmark against the real ceiling; `bench/relay.sh` runs
//! it (and says how). One invocation is one run, in its own process so its
//! peak memory is its own:
//!
//! - `send`: a list of N digest members on SQLite or PostgreSQL, a real
//!   issue (HTML + text, three reply addresses signed per reader, one
//!   question of ~7 KB) sent through gazette's own workers (outbox claim →
//!   render → compose → DKIM when a key is given → SMTP → record, as
//!   `gazette serve` runs them) into an `smtp-sink` already listening, and
//!   Postfix's `smtp-source` sending the same message over as many
//!   sessions into the same sink, just before and just after: the ceiling.
//!   Prints msg/s, the ratio to the ceiling, CPU per 1,000 messages, the
//!   queued → accepted latency, peak RSS and the claim's cost at the start
//!   and the end of the queue.
//! - `render`: the same issue rendered and composed for every member with
//!   no network (and DKIM-signed, when a key is given), on one core.
//!
//! `cargo bench` alone runs nothing here (it needs the sink): it says how.

mod measure;
mod probe;
mod report;
mod setup;

use gazette::app::Ctx;
use gazette::digest::send::Released;
use measure::{cpu_secs, peak_rss_mb, reset_peak_rss};
use probe::{Kind, Probe};
use report::Report;
use setup::Scratch;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: relay send --sink HOST:PORT [--db sqlite|POSTGRES_URL] [--members N] [--connections N] [--dkim KEY.pem] [--smtp-source PATH] [--sink-pid PID] [--detail]
       relay render [--members N] [--dkim KEY.pem]
(bench/relay.sh starts the sink and runs these; see the README's Benchmark section)";

/// The acknowledgements of the three seeded questions, sent before the
/// timed window opens.
const ACKS: u64 = 3;

/// A run that records no send for this long has stalled.
const STALL: Duration = Duration::from_secs(120);

struct Opts {
    cmd: String,
    members: usize,
    db: String,
    sink: String,
    connections: usize,
    dkim: Option<PathBuf>,
    smtp_source: PathBuf,
    /// smtp-sink's pid, to report its CPU too.
    sink_pid: Option<String>,
    detail: bool,
}

impl Opts {
    fn parse(args: &[String]) -> Result<Opts, String> {
        let mut o = Opts {
            cmd: args.first().cloned().unwrap_or_default(),
            members: 100_000,
            db: "sqlite".into(),
            sink: String::new(),
            connections: 10,
            dkim: None,
            smtp_source: "smtp-source".into(),
            sink_pid: None,
            detail: false,
        };
        let mut it = args.iter().skip(1);
        while let Some(flag) = it.next() {
            if flag == "--detail" {
                o.detail = true;
                continue;
            }
            let value = it.next().ok_or(format!("{flag} needs a value"))?;
            let number = || {
                value
                    .parse()
                    .map_err(|_| format!("{flag}: not a number: {value}"))
            };
            match flag.as_str() {
                "--members" => o.members = number()?,
                "--connections" => o.connections = number()?,
                "--db" => o.db = value.clone(),
                "--sink" => o.sink = value.clone(),
                "--dkim" => o.dkim = Some(value.into()),
                "--smtp-source" => o.smtp_source = value.into(),
                "--sink-pid" => o.sink_pid = Some(value.clone()),
                _ => return Err(format!("unknown option {flag}")),
            }
        }
        match o.cmd.as_str() {
            "send" if o.sink.is_empty() => Err("send needs --sink HOST:PORT".into()),
            "send" | "render" if o.members >= 3 => Ok(o),
            "send" | "render" => Err("--members must be at least 3".into()),
            other => Err(format!("unknown command `{other}`")),
        }
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a harness-less bench ignores it.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.is_empty() {
        println!("relay: measures delivery against smtp-sink; run bench/relay.sh (see README, Benchmark)");
        return;
    }
    let opts = Opts::parse(&args).unwrap_or_else(|e| {
        eprintln!("relay: {e}\n{USAGE}");
        std::process::exit(2)
    });
    let probe = probe::install(opts.members);
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime starts");
    let result = runtime.block_on(async {
        match opts.cmd.as_str() {
            "send" => send(&opts, probe).await,
            _ => render_only(&opts).await,
        }
    });
    if let Err(e) = result {
        eprintln!("relay: the run failed: {e:#}");
        std::process::exit(1);
    }
}

async fn send(o: &Opts, probe: &'static Probe) -> anyhow::Result<()> {
    let db = match o.db.as_str() {
        "sqlite" => Scratch::sqlite(),
        url => match Scratch::postgres(url).await {
            Ok(db) => db,
            Err(e) => {
                println!("== postgres: skipped ({url} is unreachable: {e}) ==");
                return Ok(());
            }
        },
    };
    let result = send_on(o, probe, &db).await;
    db.drop_now().await;
    let report = result?;
    report.print(o.detail);
    Ok(())
}

async fn send_on(o: &Opts, probe: &'static Probe, db: &Scratch) -> anyhow::Result<Report> {
    let smtp_url = format!("smtp://{}", o.sink);
    let ctx = Ctx::open(setup::config(
        db,
        &smtp_url,
        o.connections,
        o.dkim.as_deref(),
    ))
    .await?;
    let started = Instant::now();
    let (list, issue) = setup::seed(&ctx, o.members).await?;
    let seed_secs = started.elapsed().as_secs_f64();
    let tmp = tempfile::tempdir()?;
    let (file, message_bytes) = setup::sample_message(&ctx, &list, &issue, tmp.path()).await?;
    let sink_pid = o.sink_pid.as_deref();
    let ceiling = || {
        let (sink, n, sessions) = (&o.sink, o.members, o.connections);
        measure::ceiling(&o.smtp_source, sink, sink_pid, &file, n, sessions)
    };
    let ceiling_before = ceiling()?;

    let (stop, workers) = start_workers(&ctx);
    wait_for_sent(probe, ACKS, "the acknowledgements of the seeded questions").await?;
    let rss_before = peak_rss_mb();
    reset_peak_rss();
    let server_before = server_cpu(db).await;
    let cpu_before = cpu_secs("self").unwrap_or(f64::NAN);
    let sink_before = sink_pid.and_then(cpu_secs);
    let machine_before = measure::machine_ticks();
    probe.reset();
    let t0 = Instant::now();
    let released = gazette::digest::send::release(&ctx, &list, &issue).await?;
    let expand_secs = t0.elapsed().as_secs_f64();
    let Released::Sent { recipients, .. } = released else {
        anyhow::bail!("the issue was not released: {released:?}");
    };
    wait_for_sent(probe, recipients, "the digest").await?;
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_secs("self").unwrap_or(f64::NAN) - cpu_before;
    let machine_busy = measure::busy_share(machine_before, measure::machine_ticks());
    let sink_cpu = sink_before
        .zip(sink_pid.and_then(cpu_secs))
        .map(|(a, b)| b - a);
    let rss_send = peak_rss_mb();
    let server_cpu = server_cpu_since(db, server_before).await;
    let _ = stop.send(true);
    let _ = workers.await;
    let ceiling_after = ceiling()?;
    check_counts(&ctx, recipients).await?;
    ctx.store.close().await;
    Ok(Report {
        db: db.label,
        members: recipients,
        connections: o.connections,
        dkim: o.dkim.is_some(),
        message_bytes,
        seed_secs,
        ceiling_before,
        ceiling_after,
        expand_secs,
        secs,
        cpu,
        server_cpu,
        sink_cpu,
        machine_busy,
        rss_send,
        rss_before,
        claims: probe.claims(),
        marks: probe.marks(),
        totals: Kind::ALL.iter().map(|&k| (k, probe.totals(k))).collect(),
    })
}

/// The delivery workers exactly as `gazette serve` starts them.
fn start_workers(
    ctx: &Ctx,
) -> (
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
) {
    let c = &ctx.config;
    let transport = Arc::new(gazette::outbound::transport::Transport::new(
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

async fn wait_for_sent(probe: &Probe, n: u64, what: &str) -> anyhow::Result<()> {
    let (mut last, mut since) = (probe.sent(), Instant::now());
    while probe.sent() < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let now = probe.sent();
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() > STALL {
            anyhow::bail!("{what}: stalled at {now} of {n} sent for {STALL:?}");
        }
    }
    Ok(())
}

/// Every digest row ended sent: the relay said 250 to each, once.
async fn check_counts(ctx: &Ctx, recipients: u64) -> anyhow::Result<()> {
    let counts = ctx.store.outbox_counts().await?;
    let of = |status: &str| {
        counts
            .iter()
            .filter(|(k, s, _)| k.as_str() == "digest" && s.as_str() == status)
            .map(|(_, _, n)| *n as u64)
            .sum::<u64>()
    };
    anyhow::ensure!(
        of("sent") == recipients && of("queued") + of("sending") + of("failed") == 0,
        "the outbox does not show every digest sent once: {counts:?}"
    );
    Ok(())
}

/// PostgreSQL: CPU seconds so far of each server process of the database.
async fn server_cpu(db: &Scratch) -> HashMap<i64, f64> {
    db.backend_pids()
        .await
        .into_iter()
        .filter_map(|pid| Some((pid, cpu_secs(&pid.to_string())?)))
        .collect()
}

async fn server_cpu_since(db: &Scratch, before: HashMap<i64, f64>) -> Option<f64> {
    let now = server_cpu(db).await;
    (!now.is_empty()).then(|| {
        now.iter()
            .map(|(pid, secs)| secs - before.get(pid).copied().unwrap_or(0.0))
            .sum()
    })
}

/// Render and compose every member's copy with no network, one at a time
/// (one core), then again with DKIM when a key is given.
async fn render_only(o: &Opts) -> anyhow::Result<()> {
    let db = Scratch::sqlite();
    let tmp = tempfile::tempdir()?;
    let files = format!("file://{}", tmp.path().display());
    let ctx = Ctx::open(setup::config(&db, &files, 1, o.dkim.as_deref())).await?;
    let (list, issue) = setup::seed(&ctx, o.members).await?;
    gazette::digest::send::release(&ctx, &list, &issue).await?;
    let rows: Vec<_> = ctx
        .store
        .claim("bench", 3_600_000, o.members as i64 + 10)
        .await?
        .rows
        .into_iter()
        .filter(|r| r.kind == gazette::store::OutboxKind::Digest)
        .collect();
    println!(
        "== render only: {} members, no network, one core ==",
        rows.len()
    );
    for sign in [false, true] {
        if sign && ctx.dkim.is_none() {
            break;
        }
        let (cpu0, t0) = (cpu_secs("self").unwrap_or(f64::NAN), Instant::now());
        let mut bytes = 0;
        for row in &rows {
            bytes += setup::build(&ctx, row, sign).await?.len();
        }
        let secs = t0.elapsed().as_secs_f64();
        let cpu = cpu_secs("self").unwrap_or(f64::NAN) - cpu0;
        let what = if sign {
            "render + compose + DKIM (RSA-2048)"
        } else {
            "render + compose"
        };
        println!(
            "  {what}: {:.0} msg/s, {:.2} CPU-seconds per 1,000 messages, {} bytes per message",
            rows.len() as f64 / secs,
            cpu / rows.len() as f64 * 1000.0,
            bytes / rows.len().max(1)
        );
        println!(
            "RESULT render dkim={sign} members={} rate={:.1} cpu_per_1000={:.3}",
            rows.len(),
            rows.len() as f64 / secs,
            cpu / rows.len() as f64 * 1000.0
        );
    }
    ctx.store.close().await;
    db.drop_now().await;
    Ok(())
}
