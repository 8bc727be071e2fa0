//! Three `gazette serve` processes on one PostgreSQL database send a digest
//! through a relay that misbehaves, and one of them is killed (SIGKILL)
//! mid-send. The relay answers `451` to 20% of RCPTs at random, cuts 1% of
//! connections in the middle of DATA, and now and then accepts a message
//! but holds its reply past gazette's lease.
//!
//! Every member must end with exactly one accepted delivery, counted on
//! the relay's side, except deliveries in the one window no SMTP client
//! can close (the relay accepted, the reply never reached gazette): the
//! held replies; replies the client never acknowledged (a proxy in front
//! of the relay sees it close the connection, at its deadline or as it
//! dies, without another command after the `250`); and the sends of the
//! killed process the relay accepted just before it died. The test counts
//! them and reports them, and checks that gazette's count of sent rows is
//! the relay's count less that window.
//!
//! The issue asks for 20,000 members; with debug builds of gazette on a
//! shared 2-core machine that takes minutes (setup and import included), so
//! the default is 3,000 (under a minute) and `RELAY_FAULTS_MEMBERS=20000` runs
//! the full size.

use crate::common::*;
use gazette::inbound::smtp::{serve, Envelope, MailHandler, Reply, ServerConfig};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// Short, so held replies and the killed process's rows come back within
/// the test, but not so short that a commit delayed on a loaded machine
/// outlasts the lease margin (a quarter of it).
const LEASE_SECS: u64 = 10;
/// A held reply comes this long after the message was accepted.
const HOLD: Duration = Duration::from_secs(LEASE_SECS + 3);
const CONNECTIONS: usize = 4;
/// Around the kill, the moments whose acceptances the killed process may
/// not have recorded.
const RECORD_SLACK: Duration = Duration::from_secs(2);

#[derive(Default)]
struct Counts {
    /// Accepted messages per recipient.
    accepted: HashMap<String, usize>,
    /// Of those, accepted with the reply held past the lease.
    held: HashMap<String, usize>,
    /// When each recipient's messages were accepted (held ones aside).
    at: HashMap<String, Vec<Instant>>,
}

struct FaultyRelay {
    counts: Arc<Mutex<Counts>>,
    refused: AtomicUsize,
    holds_left: AtomicUsize,
    /// Chance that an accepted message's reply is held: about a dozen per run.
    hold_chance: f64,
}

impl MailHandler for FaultyRelay {
    async fn check_recipient(&self, _rcpt: &str) -> Reply {
        if rand::random::<f64>() < 0.2 {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Reply::new(451, "4.7.1", "try again later");
        }
        Reply::new(250, "2.1.5", "ok")
    }

    async fn deliver(&self, envelope: &Envelope, _data: Vec<u8>) -> Vec<Reply> {
        let hold = rand::random::<f64>() < self.hold_chance
            && self
                .holds_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        {
            let mut c = self.counts.lock().unwrap();
            for r in &envelope.rcpt_to {
                *c.accepted.entry(r.to_lowercase()).or_default() += 1;
                if hold {
                    *c.held.entry(r.to_lowercase()).or_default() += 1;
                } else {
                    c.at.entry(r.to_lowercase())
                        .or_default()
                        .push(Instant::now());
                }
            }
        }
        if hold {
            tokio::time::sleep(HOLD).await;
        }
        envelope
            .rcpt_to
            .iter()
            .map(|_| Reply::new(250, "2.0.0", "queued"))
            .collect()
    }
}

/// What one relay connection has seen, shared by its two directions.
#[derive(Default)]
struct Session {
    /// The recipients of the transaction under way (gazette sends one
    /// envelope per recipient).
    rcpts: Vec<String>,
    /// Accepted with `250 … queued`, and the client has sent nothing since:
    /// it may never have read that reply.
    unacknowledged: Vec<String>,
    /// Bytes of a client line not yet ended.
    line: Vec<u8>,
}

impl Session {
    /// Reads the client's commands out of `chunk`: which recipients the
    /// transaction is for. Anything the client sends also acknowledges the
    /// last reply.
    fn client_sent(&mut self, chunk: &[u8]) {
        self.unacknowledged.clear();
        for &b in chunk {
            if b != b'\n' {
                if self.line.len() < 1024 {
                    self.line.push(b);
                }
                continue;
            }
            let line = String::from_utf8_lossy(&self.line).to_ascii_lowercase();
            if line.starts_with("mail from:") {
                self.rcpts.clear();
            } else if let Some(rest) = line.strip_prefix("rcpt to:<") {
                if let Some(addr) = rest.split('>').next() {
                    self.rcpts.push(addr.to_string());
                }
            }
            self.line.clear();
        }
    }
}

/// Relays bytes to the server, except that 1% of DATA transactions are
/// cut after part of the body (the server commits nothing). It also notes
/// the acceptances whose reply the client never acknowledged (it closed
/// the connection, or died, without another command): the window where
/// the relay accepted and gazette could not know.
async fn cutting_proxy(
    upstream: SocketAddr,
    cuts: Arc<AtomicUsize>,
    unacknowledged: Arc<Mutex<HashMap<String, usize>>>,
) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let cuts = cuts.clone();
            let unacknowledged = unacknowledged.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let session = Arc::new(Mutex::new(Session::default()));
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let from_server = session.clone();
                let back = tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let n = match sr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        // Noted before the client can see it, so the
                        // client's next command always comes after.
                        if buf[..n].windows(6).any(|w| w == b"queued") {
                            let mut s = from_server.lock().unwrap();
                            s.unacknowledged = s.rcpts.clone();
                        }
                        if cw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
                let mut buf = vec![0u8; 64 * 1024];
                let mut cut_next_body = false;
                loop {
                    let n = match cr.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let chunk = &buf[..n];
                    session.lock().unwrap().client_sent(chunk);
                    if cut_next_body {
                        cuts.fetch_add(1, Ordering::SeqCst);
                        let _ = sw.write_all(&chunk[..n / 2]).await;
                        break;
                    }
                    if ends_with_data(chunk) && rand::random::<f64>() < 0.01 {
                        cut_next_body = true;
                    }
                    if sw.write_all(chunk).await.is_err() {
                        break;
                    }
                }
                // The client is gone (or we cut it). Let the server finish
                // what it was doing (a reply it still owes is noted on its
                // way back), then: a reply the client had not acknowledged
                // may never have reached it.
                let _ = sw.shutdown().await;
                drop(sw);
                let _ = tokio::time::timeout(HOLD + Duration::from_secs(5), back).await;
                let left = std::mem::take(&mut session.lock().unwrap().unacknowledged);
                let mut u = unacknowledged.lock().unwrap();
                for rcpt in left {
                    *u.entry(rcpt).or_default() += 1;
                }
                drop(u);
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_workers_one_killed_through_a_faulty_relay() {
    let Some(url) = postgres_url() else {
        return;
    };
    let members: usize = std::env::var("RELAY_FAULTS_MEMBERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000);
    let db = postgres_db(&url).await;

    let counts = Arc::new(Mutex::new(Counts::default()));
    let handler = Arc::new(FaultyRelay {
        counts: counts.clone(),
        refused: AtomicUsize::new(0),
        holds_left: AtomicUsize::new(20),
        hold_chance: 12.0 / members as f64,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server_addr = listener.local_addr().unwrap();
    let (_stop, stopped) = watch::channel(false);
    let config = ServerConfig {
        hostname: "relay.test".into(),
        max_message_bytes: 10 << 20,
        command_timeout: Duration::from_secs(60),
        data_timeout: Duration::from_secs(60),
        max_recipients: 10,
        max_connections: 256,
        max_per_client: 256,
        connects_per_minute: 0,
    };
    tokio::spawn(serve(listener, config, handler.clone(), stopped));
    let cuts = Arc::new(AtomicUsize::new(0));
    let unacknowledged = Arc::new(Mutex::new(HashMap::new()));
    let relay = cutting_proxy(server_addr, cuts.clone(), unacknowledged.clone()).await;

    let base: Vec<(String, String)> = [
        ("GAZETTE_CONFIG", "/dev/null".to_string()),
        ("GAZETTE_DATABASE_URL", db.url.clone()),
        ("GAZETTE_SMTP_URL", format!("smtp://{relay}")),
        ("GAZETTE_LEASE_SECS", LEASE_SECS.to_string()),
        ("GAZETTE_SMTP_MAX_CONNECTIONS", CONNECTIONS.to_string()),
        // Small batches, so the three processes' claims interleave all
        // through the queue (the default would hand it out in six claims).
        ("GAZETTE_BATCH_SIZE", "50".to_string()),
        ("GAZETTE_INBOUND_CONNECTS_PER_MINUTE", "0".to_string()),
        ("GAZETTE_LOG", "error".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    gazette_cmd(
        &base,
        &[
            "list",
            "create",
            LIST_ADDRESS,
            "--name",
            "PM Circle",
            "--schedule",
            "0 0 1 1 *",
        ],
        None,
    );
    let csv: String = (0..members)
        .map(|i| format!("m{i}@example.org\n"))
        .collect();
    gazette_cmd(
        &base,
        &["member", "import", "--confirmed", "test", "-"],
        Some(csv.as_bytes()),
    );
    let ctx = gazette::app::Ctx::open(test_config(&db, "file:///dev/null", &[]))
        .await
        .unwrap();
    let list = ctx.list_by_address(LIST_ADDRESS).await.unwrap();
    ask_as(
        &ctx,
        &list,
        "m0@example.org",
        "Roadmaps?",
        "<q1@example.org>",
    )
    .await;
    gazette::digest::send::send_now(&ctx, &list).await.unwrap();
    // Every member's digest, and m0's acknowledgement.
    let expected = |rcpt: &str| if rcpt == "m0@example.org" { 2 } else { 1 };
    let rows = members + 1;

    let mut processes: Vec<Served> = (0..3)
        .map(|_| {
            let mut env = base.clone();
            env.push((
                "GAZETTE_HTTP_ADDR".into(),
                format!("127.0.0.1:{}", free_port()),
            ));
            env.push((
                "GAZETTE_INBOUND_ADDR".into(),
                format!("127.0.0.1:{}", free_port()),
            ));
            gazette_serve(&env)
        })
        .collect();
    let sent = |ctx: gazette::app::Ctx| async move {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM outbox WHERE status = 'sent'")
            .fetch_one(ctx.store.pool())
            .await
            .unwrap() as usize
    };
    wait_for(120, "a fifth of the deliveries", || async {
        (sent(ctx.clone()).await >= rows / 5).then_some(())
    })
    .await;
    let victim = processes.remove(0);
    let killed_at = Instant::now();
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &victim.id().to_string()])
        .status();
    drop(victim);
    eprintln!("killed one process at {} sent", sent(ctx.clone()).await);

    // The 451s and cut connections back off for 30 s and more; stand in for
    // the passing of that time so the test takes a minute, not an hour.
    wait_for(300, "every delivery recorded as sent", || async {
        sqlx::query("UPDATE outbox SET next_attempt_at = 0 WHERE status = 'queued'")
            .execute(ctx.store.pool())
            .await
            .unwrap();
        let n = sent(ctx.clone()).await;
        (n == rows).then_some(())
    })
    .await;
    // A held reply still running would land within this.
    tokio::time::sleep(HOLD).await;
    for p in &mut processes {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &p.id().to_string()])
            .status();
        let _ = p.wait();
    }

    let failed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE status <> 'sent'")
        .fetch_one(ctx.store.pool())
        .await
        .unwrap();
    assert_eq!(failed, 0, "rows not sent");
    // A connection still handing back a held reply is noted within this.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let c = std::mem::take(&mut *counts.lock().unwrap());
    let unack = std::mem::take(&mut *unacknowledged.lock().unwrap());
    let mut missing = Vec::new();
    let mut window = 0;
    let mut killed_window = 0;
    let mut outside = Vec::new();
    for i in 0..members {
        let rcpt = format!("m{i}@example.org");
        let got = c.accepted.get(&rcpt).copied().unwrap_or(0);
        let held = c.held.get(&rcpt).copied().unwrap_or(0);
        match got.checked_sub(held + expected(&rcpt)) {
            None => missing.push(rcpt),
            Some(0) => {}
            Some(extra) => {
                window += extra;
                // A second acceptance is allowed only where gazette could
                // not know of the first: its reply never acknowledged (the
                // client gave up at its deadline, or died, before reading
                // it; held replies are counted apart), or accepted for the
                // killed process in the last moments before the kill (its
                // unwritten batch holds at most 100 ms of results; the
                // rest is slack for a loaded machine).
                let lost_replies = unack.get(&rcpt).copied().unwrap_or(0).saturating_sub(held);
                let first = c.at[&rcpt][0];
                let near_kill =
                    first + RECORD_SLACK >= killed_at && first <= killed_at + RECORD_SLACK;
                if near_kill {
                    killed_window += extra;
                } else if lost_replies < extra {
                    let offset = first.saturating_duration_since(killed_at).as_secs_f64()
                        - killed_at.saturating_duration_since(first).as_secs_f64();
                    outside.push(format!(
                        "{rcpt} (accepted {got} times, first {offset:+.1} s from the kill, {lost_replies} replies unacknowledged)"
                    ));
                }
            }
        }
    }
    let held: usize = c.held.values().sum();
    let accepted: usize = c.accepted.values().sum();
    eprintln!(
        "{members} members: relay accepted {accepted}; window: {held} replies held past the lease, {} accepted with the reply lost, {killed_window} accepted for the killed process before it could record them; {} RCPTs answered 451, {} DATA cut",
        window - killed_window,
        handler.refused.load(Ordering::Relaxed),
        cuts.load(Ordering::SeqCst)
    );
    assert!(missing.is_empty(), "never accepted for {missing:?}");
    assert!(
        outside.is_empty(),
        "accepted twice, the first time neither unacknowledged nor in the killed process's unrecorded moments: {outside:#?}"
    );
    // gazette counts as sent exactly what the relay accepted, less the window.
    assert_eq!(rows, accepted - held - window);
    assert!(
        held > 0,
        "no reply was ever held: the test did not test the window"
    );
    assert!(handler.refused.load(Ordering::Relaxed) > 0);
    ctx.store.close().await;
}
