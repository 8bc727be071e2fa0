//! A relay that goes down for 30 seconds in the middle of a digest: gazette
//! stops connecting after a few failures and probes it now and then (a
//! circuit breaker), instead of trying once per queued message, and the
//! issue reaches every member once the relay is back.
//!
//! The relay is a [`RelaySwitch`] in front of a recording [`Sink`]: while
//! up it relays bytes; "going down" cuts every open connection and from
//! then on answers each new one with `421` and hangs up, counting them, as
//! a relay that is restarting or refusing service would.

use crate::common::*;
use gazette::app::Ctx;
use gazette::digest::send::send_now;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

const MEMBERS: usize = 1500;
const OUTAGE: Duration = Duration::from_secs(30);

/// A loopback relay that can be taken down and brought back on the same port.
pub struct RelaySwitch {
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    refused: Arc<AtomicUsize>,
    open: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    task: tokio::task::JoinHandle<()>,
}

impl RelaySwitch {
    pub async fn start(upstream: SocketAddr) -> RelaySwitch {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let refused = Arc::new(AtomicUsize::new(0));
        let open: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
        let (u, r, o) = (up.clone(), refused.clone(), open.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !u.load(Ordering::SeqCst) {
                    r.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(async move {
                        let _ = client
                            .write_all(b"421 4.3.2 relay.test service not available\r\n")
                            .await;
                        let _ = client.shutdown().await;
                    });
                    continue;
                }
                let conn = tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
                let mut open = o.lock().unwrap();
                open.retain(|h| !h.is_finished());
                open.push(conn.abort_handle());
            }
        });
        RelaySwitch {
            addr,
            up,
            refused,
            open,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Cuts every open session and refuses new ones until [`up`](Self::up).
    pub fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        for h in self.open.lock().unwrap().drain(..) {
            h.abort();
        }
    }

    pub fn up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }

    /// Connections refused while down.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }
}

impl Drop for RelaySwitch {
    fn drop(&mut self) {
        self.task.abort();
        for h in self.open.lock().unwrap().drain(..) {
            h.abort();
        }
    }
}

fn digests_per_member(sink: &Sink) -> HashMap<String, usize> {
    let mut per: HashMap<String, usize> = HashMap::new();
    for m in sink.messages() {
        if m.header("Message-ID")
            .unwrap_or_default()
            .starts_with("<digest.")
        {
            *per.entry(m.rcpt).or_default() += 1;
        }
    }
    per
}

async fn outage_mid_send(db: TestDb) {
    let sink = Sink::start(SinkBehaviour::default()).await;
    let relay = RelaySwitch::start(sink.addr).await;
    const CONNECTIONS: usize = 4;
    const WORKERS: usize = 2;
    let ctx = Ctx::open(test_config(
        &db,
        &relay.url(),
        &[
            ("GAZETTE_SMTP_MAX_CONNECTIONS", "4"),
            ("GAZETTE_WORKERS", "2"),
            // Slow enough that the outage lands mid-send in a debug build.
            ("GAZETTE_SMTP_RATE_PER_SEC", "150"),
        ],
    ))
    .await
    .unwrap();
    let list = seed_list(&ctx, MEMBERS).await;
    send_now(&ctx, &list).await.unwrap();
    let (stop, workers) = start_workers(&ctx);
    wait_for(60, "the first digests", || async {
        (sink.count() >= 200).then_some(())
    })
    .await;

    relay.down();
    let at_outage = sink.count();
    tokio::time::sleep(OUTAGE).await;
    let attempts = relay.refused();
    let during = sink.count() - at_outage;
    relay.up();
    eprintln!(
        "[{}] {at_outage} delivered before the outage; {attempts} connection attempts in {} s down",
        db.label,
        OUTAGE.as_secs()
    );
    assert_eq!(during, 0, "the relay was down");
    // The breaker opens after 5 failures in a row; sends already in flight
    // (at most workers × 2 × connections) may fail on their own; then one
    // probe after each pause (1, 2, 4, 8, 16 s, then every 30 s).
    let in_flight = WORKERS * 2 * CONNECTIONS;
    let bound = 5 + in_flight + 6;
    assert!(
        attempts <= bound,
        "{attempts} connection attempts during a {} s outage (bound {bound}): the breaker did not hold",
        OUTAGE.as_secs()
    );
    assert!(attempts >= 5, "gazette never noticed the outage");

    wait_for(
        120,
        "every member's digest after the relay came back",
        || async { (digests_per_member(&sink).len() == MEMBERS).then_some(()) },
    )
    .await;
    stop.send(true).unwrap();
    workers.await.unwrap();
    // Cutting the sessions may lose the reply to a message the sink had
    // already accepted (the window no client can close); never more than
    // the sessions cut.
    let twice = digests_per_member(&sink)
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .count();
    assert!(twice <= CONNECTIONS, "{twice} members got the digest twice");
    let counts = ctx.store.outbox_counts().await.unwrap();
    assert!(
        counts.iter().all(|(_, s, _)| s.as_str() == "sent"),
        "{counts:?}"
    );
    ctx.store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn relay_down_for_30_seconds_mid_send() {
    // Both databases at once: the outage is wall-clock time.
    let mut dbs = databases().await.into_iter();
    let (first, second) = (dbs.next().unwrap(), dbs.next());
    tokio::join!(outage_mid_send(first), async {
        if let Some(db) = second {
            outage_mid_send(db).await
        }
    });
}
