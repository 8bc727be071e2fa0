//! The HTTP server under the router, with the limits axum's `serve` cannot
//! set: a cap on connections, a deadline for each request head (which is
//! also how long an idle keep-alive connection is kept), and a cheap `503`
//! when every connection is busy.
//!
//! At the cap, a newcomer takes the place of the connection that has been
//! waiting longest without a request in progress (one that never sent a
//! request, or sits idle between requests), which is closed. So holding
//! idle sockets open only pushes other idle sockets out, and the server
//! keeps answering. Only when every connection is in the middle of a
//! request does a newcomer get `503`, and it is closed.

use crate::net::RefusalLog;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::ServiceExt;

/// What one listener allows.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Longest wait for a whole request head, after connecting or after
    /// the previous response.
    pub header_timeout: Duration,
}

/// How long a newcomer waits for the connection it displaced to close.
const DISPLACE_WAIT: Duration = Duration::from_secs(2);

/// How long a connection told to close may take to finish a response it
/// is writing, or a request head it is reading, before it is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Most newcomers waiting for a displaced connection, or being told `503`,
/// at once; past it, new connections are closed without a word.
const MAX_WAITING: usize = 64;

/// Largest request head (and read buffer) per connection.
const MAX_HEAD: usize = 64 * 1024;

/// How long stopping waits for requests in progress.
const STOP_WAIT: Duration = Duration::from_secs(10);

const BUSY_TEXT: &str = "too many connections; try again in a few seconds\n";

static REFUSALS: RefusalLog = RefusalLog::new("HTTP");

/// Serves `router` on `listener` within `limits` until `shutdown` becomes
/// true (or its sender is dropped); then stops accepting, lets requests in
/// progress finish (for a while), and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) {
    let server = Arc::new(Server {
        router,
        limits,
        slots: Arc::new(Semaphore::new(limits.max_connections)),
        waiting: Arc::new(Semaphore::new(MAX_WAITING)),
        idle: Mutex::new(BTreeMap::new()),
        displacing: AtomicUsize::new(0),
        next_id: AtomicU64::new(0),
    });
    let mut tasks = JoinSet::new();
    let for_connections = shutdown.clone();
    loop {
        tokio::select! {
            _ = stopped(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => server.admit(stream, &mut tasks, &for_connections),
                Err(e) => {
                    // Out of descriptors, most likely: wait for some to close.
                    REFUSALS.refused(&format!("cannot accept: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                if let Err(e) = done {
                    tracing::error!(error = %e, "an HTTP connection failed");
                }
            }
        }
    }
    drop(listener);
    let all_done = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(STOP_WAIT, all_done).await.is_err() {
        tracing::warn!(
            connections = tasks.len(),
            "HTTP requests still in progress; closing them"
        );
        tasks.shutdown().await;
    }
}

/// Resolves when shutdown is asked for, or can no longer be (sender dropped).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// When a connection became idle, and its id: the oldest sorts first.
type IdleKey = (Instant, u64);

struct Server {
    router: Router,
    limits: Limits,
    slots: Arc<Semaphore>,
    waiting: Arc<Semaphore>,
    /// Connections without a request in progress, each with the signal
    /// that tells it to close.
    idle: Mutex<BTreeMap<IdleKey, Arc<Notify>>>,
    /// Newcomers waiting for the place of a connection they displaced.
    displacing: AtomicUsize,
    next_id: AtomicU64,
}

/// Counts one newcomer in [`Server::displacing`] while it lives.
struct Displacing(Arc<Server>);

impl Displacing {
    fn new(server: Arc<Server>) -> Displacing {
        server.displacing.fetch_add(1, Ordering::AcqRel);
        Displacing(server)
    }
}

impl Drop for Displacing {
    fn drop(&mut self) {
        self.0.displacing.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Server {
    fn admit(
        self: &Arc<Self>,
        stream: TcpStream,
        tasks: &mut JoinSet<()>,
        shutdown: &watch::Receiver<bool>,
    ) {
        let _ = stream.set_nodelay(true);
        // While newcomers wait for the places of connections they displaced,
        // a freed place is theirs: taking it here would leave one of them
        // without, and refused.
        if self.displacing.load(Ordering::Acquire) == 0 {
            if let Ok(slot) = self.slots.clone().try_acquire_owned() {
                return self.spawn_connection(stream, slot, tasks, shutdown);
            }
        }
        let Ok(waiting) = self.waiting.clone().try_acquire_owned() else {
            REFUSALS.refused("every connection in use and too many waiting");
            return;
        };
        if !self.displace_oldest_idle() {
            // Nobody to displace: every connection is busy, unless one
            // just ended.
            if let Ok(slot) = self.slots.clone().try_acquire_owned() {
                return self.spawn_connection(stream, slot, tasks, shutdown);
            }
            tasks.spawn(async move {
                REFUSALS.refused("every connection busy with a request");
                refuse(stream).await;
                drop(waiting);
            });
            return;
        }
        let displacing = Displacing::new(self.clone());
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            let server = displacing.0.clone();
            let slot = server.slots.clone().acquire_owned();
            let slot = tokio::time::timeout(DISPLACE_WAIT, slot).await;
            drop(displacing);
            if let Ok(Ok(slot)) = slot {
                drop(waiting);
                let state = server.register();
                return server.connection(stream, slot, state, shutdown).await;
            }
            REFUSALS.refused("every connection busy with a request");
            refuse(stream).await;
            drop(waiting);
        });
    }

    fn spawn_connection(
        self: &Arc<Self>,
        stream: TcpStream,
        slot: OwnedSemaphorePermit,
        tasks: &mut JoinSet<()>,
        shutdown: &watch::Receiver<bool>,
    ) {
        // Registered here, in accept order, so "idle longest" is exact.
        let state = self.register();
        let connection = self
            .clone()
            .connection(stream, slot, state, shutdown.clone());
        tasks.spawn(connection);
    }

    /// Tells the connection idle longest to close; false when none is idle.
    fn displace_oldest_idle(&self) -> bool {
        let oldest = self.idle.lock().expect("idle table lock").pop_first();
        match oldest {
            Some((_, close)) => {
                close.notify_one();
                true
            }
            None => false,
        }
    }

    /// A new connection's entry, idle from now.
    fn register(self: &Arc<Self>) -> Arc<ConnState> {
        let state = Arc::new(ConnState {
            server: self.clone(),
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            close: Arc::new(Notify::new()),
            idle_since: Mutex::new(None),
        });
        state.set_idle();
        state
    }

    /// Serves one connection until it ends, is displaced, or the server stops.
    async fn connection(
        self: Arc<Self>,
        stream: TcpStream,
        slot: OwnedSemaphorePermit,
        state: Arc<ConnState>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        {
            let per_request = state.clone();
            let router = self.router.clone();
            // Handlers that throttle per client read it as `ConnectInfo`.
            let peer = stream.peer_addr().ok();
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                let busy = Busy::new(per_request.clone());
                let router = router.clone();
                if let Some(peer) = peer {
                    req.extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                }
                async move {
                    let response = router.oneshot(req).await;
                    drop(busy);
                    response
                }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(self.limits.header_timeout)
                .max_buf_size(MAX_HEAD)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let mut closing_by: Option<Instant> = None;
            loop {
                let grace_over = async {
                    match closing_by {
                        Some(t) => tokio::time::sleep_until(t).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    ended = conn.as_mut() => {
                        if let Err(e) = ended {
                            tracing::debug!(error = %e, "HTTP connection ended");
                        }
                        break;
                    }
                    _ = state.close.notified(), if closing_by.is_none() => {
                        conn.as_mut().graceful_shutdown();
                        closing_by = Some(Instant::now() + CLOSE_GRACE);
                    }
                    _ = stopped(&mut shutdown), if closing_by.is_none() => {
                        conn.as_mut().graceful_shutdown();
                        closing_by = Some(Instant::now() + CLOSE_GRACE);
                    }
                    _ = grace_over => {
                        // A request in progress is answered first.
                        if state.is_idle() {
                            break;
                        }
                        closing_by = Some(Instant::now() + CLOSE_GRACE);
                    }
                }
            }
        }
        state.forget();
        drop(slot);
    }
}

/// One connection's entry in the idle table.
struct ConnState {
    server: Arc<Server>,
    id: u64,
    /// Told to close (displaced by a newcomer).
    close: Arc<Notify>,
    /// `Some` while no request is in progress.
    idle_since: Mutex<Option<Instant>>,
}

impl ConnState {
    fn set_idle(&self) {
        let mut since = self.idle_since.lock().expect("idle lock");
        if since.is_none() {
            let now = Instant::now();
            *since = Some(now);
            let mut table = self.server.idle.lock().expect("idle table lock");
            table.insert((now, self.id), self.close.clone());
        }
    }

    fn set_busy(&self) {
        let mut since = self.idle_since.lock().expect("idle lock");
        if let Some(t) = since.take() {
            let mut table = self.server.idle.lock().expect("idle table lock");
            table.remove(&(t, self.id));
        }
    }

    fn is_idle(&self) -> bool {
        self.idle_since.lock().expect("idle lock").is_some()
    }

    /// Leaves the idle table for good (the connection has ended).
    fn forget(&self) {
        self.set_busy();
    }
}

/// Marks a connection busy for as long as one request is in progress.
struct Busy(Arc<ConnState>);

impl Busy {
    fn new(state: Arc<ConnState>) -> Busy {
        state.set_busy();
        Busy(state)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.set_idle();
    }
}

/// Answers `503` without reading the request, and closes.
async fn refuse(mut stream: TcpStream) {
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nRetry-After: 5\r\nConnection: close\r\n\r\n{BUSY_TEXT}",
        BUSY_TEXT.len()
    );
    let send = async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await?;
        // Take what the client is still sending until it closes: closing
        // with unread data would reset the connection, and the client
        // might lose the 503 before reading it.
        let mut discard = [0u8; 4096];
        while stream.read(&mut discard).await? > 0 {}
        Ok::<_, std::io::Error>(())
    };
    let _ = tokio::time::timeout(CLOSE_GRACE, send).await;
}
