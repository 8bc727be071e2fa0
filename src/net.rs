//! What the listeners share: the process's open-file limit (raised at
//! start and split so that a flood of HTTP connections cannot take the
//! descriptors SMTP intake needs) and quiet logging of refused connections.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpSocket};

/// Descriptors kept for everything but SMTP sessions and public HTTP
/// connections: the database pool, relay connections beyond the configured
/// ones, outbox files, listeners, the runtime, connections being refused.
const OTHER_FILES: u64 = 192;

/// The fewest HTTP connections worth serving; below this the limit is
/// simply too low, and the operator is told.
const MIN_HTTP: u64 = 16;

/// Connections the kernel queues for a listener before gazette accepts
/// them. The usual 128 overflows in a burst, and an overflowed connection
/// waits for the handshake to be retried, a second or more later.
const BACKLOG: u32 = 1024;

/// A TCP listener on `addr` with a generous accept queue.
pub fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As std does: a restarted gazette can bind while old connections linger.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// More descriptors than any gazette needs.
const MAX_SOFT: u64 = 1 << 20;

/// The open-file limits after [`raise_open_file_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFileLimit {
    /// The soft limit before gazette raised it.
    pub was: u64,
    pub soft: u64,
    pub hard: u64,
}

/// Raises this process's open-file soft limit (RLIMIT_NOFILE) to its hard
/// limit: each connection is a descriptor, and the usual soft limit of
/// 1,024 is a small fraction of what the kernel allows. `None` where there
/// is no such limit or it cannot be read.
pub fn raise_open_file_limit() -> Option<OpenFileLimit> {
    let (was, hard) = get_limit()?;
    // An unlimited hard limit is not a soft limit the kernel accepts.
    let target = hard.min(MAX_SOFT);
    let soft = if was < target && set_soft_limit(target, hard) {
        target
    } else {
        was
    };
    Some(OpenFileLimit { was, soft, hard })
}

/// The current open-file soft limit.
pub fn open_file_limit() -> Option<u64> {
    get_limit().map(|(soft, _)| soft)
}

#[cfg(unix)]
#[allow(clippy::unnecessary_cast)] // rlim_t is narrower on some 32-bit targets
fn get_limit() -> Option<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we own.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0;
    ok.then_some((lim.rlim_cur as u64, lim.rlim_max as u64))
}

#[cfg(unix)]
fn set_soft_limit(soft: u64, hard: u64) -> bool {
    let lim = libc::rlimit {
        rlim_cur: soft as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: setrlimit only reads the struct we pass.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 }
}

#[cfg(not(unix))]
fn get_limit() -> Option<(u64, u64)> {
    None
}

#[cfg(not(unix))]
fn set_soft_limit(_: u64, _: u64) -> bool {
    false
}

/// How many public HTTP connections to allow under an open-file limit of
/// `limit`, when `smtp` descriptors are kept for SMTP sessions and
/// `relay` for outbound relay connections: the configured number when it
/// fits, else what does fit, with a warning saying so.
pub fn http_connection_cap(
    configured: usize,
    limit: Option<u64>,
    smtp: usize,
    relay: usize,
) -> (usize, Option<String>) {
    let Some(limit) = limit else {
        return (configured, None);
    };
    let kept = smtp as u64 + relay as u64 + OTHER_FILES;
    let room = limit.saturating_sub(kept).max(MIN_HTTP);
    if configured as u64 <= room {
        return (configured, None);
    }
    let cap = room as usize;
    let why = if limit < kept + MIN_HTTP {
        format!("the open-file limit ({limit}) is too low to serve SMTP and HTTP safely; raise it (ulimit -n, or LimitNOFILE= in a systemd unit) to at least {}", kept + configured as u64)
    } else {
        format!("GAZETTE_HTTP_MAX_CONNECTIONS is {configured} but the open-file limit ({limit}) leaves room for {cap} beside the {kept} kept for SMTP and the rest; serving at most {cap}. Raise the limit (ulimit -n, or LimitNOFILE= in a systemd unit) to allow more")
    };
    (cap, Some(why))
}

/// Logs refused connections at most once per interval, with how many there
/// were, so a flood does not also flood the log.
pub struct RefusalLog {
    what: &'static str,
    state: Mutex<(u64, Option<Instant>)>,
}

const LOG_EVERY: Duration = Duration::from_secs(10);

impl RefusalLog {
    pub const fn new(what: &'static str) -> RefusalLog {
        RefusalLog {
            what,
            state: Mutex::new((0, None)),
        }
    }

    /// Counts one refusal for `why`; logs when the interval has passed.
    pub fn refused(&self, why: &str) {
        let mut state = self.state.lock().expect("refusal log lock");
        state.0 += 1;
        let now = Instant::now();
        if state
            .1
            .is_none_or(|last| now.duration_since(last) >= LOG_EVERY)
        {
            let count = std::mem::take(&mut state.0);
            state.1 = Some(now);
            tracing::warn!(
                count,
                reason = why,
                "{} connections refused (count since the last such line)",
                self.what
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_gets_what_the_limit_leaves() {
        assert_eq!(http_connection_cap(512, None, 256, 4), (512, None));
        assert_eq!(
            http_connection_cap(512, Some(1_048_576), 256, 4),
            (512, None)
        );
        // 1024 - 256 - 4 - 192 = 572: room for the default.
        assert_eq!(http_connection_cap(512, Some(1024), 256, 4), (512, None));
        let (cap, warning) = http_connection_cap(5000, Some(1024), 256, 4);
        assert_eq!(cap, 572);
        assert!(warning.unwrap().contains("GAZETTE_HTTP_MAX_CONNECTIONS"));
        let (cap, warning) = http_connection_cap(512, Some(256), 256, 4);
        assert_eq!(cap, 16);
        assert!(warning.unwrap().contains("too low"));
    }

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let Some(limit) = raise_open_file_limit() else {
            return;
        };
        assert_eq!(limit.soft, limit.hard.min(MAX_SOFT));
        assert_eq!(open_file_limit(), Some(limit.soft));
    }
}
