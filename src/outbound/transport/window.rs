//! How much gazette asks of the relay at once: a concurrency window that
//! follows the relay's signals, and a pacer for its messages-per-second cap.
//!
//! The window starts at `GAZETTE_SMTP_MAX_CONNECTIONS` and works like TCP's
//! congestion window (AIMD): a "slow down" reply (`421`, `451`, `454`)
//! halves it, at most once per [`CUT_SPACING`] so one burst of refusals
//! counts once; each accepted message grows it by `1/window`, about one
//! connection per window's worth of successes, back up to the maximum. The
//! pacer's rate follows the same fraction of its configured cap.
//!
//! Places are given in the order they were asked for: a freed place is
//! handed to the longest waiter, never taken by a send that arrived later,
//! so a notice at the front of a batch is not overtaken by the sends
//! queued after it (and no send waits out its deadline while newer ones go).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// Cuts closer together than this are one congestion event.
const CUT_SPACING: Duration = Duration::from_secs(1);
/// Window changes are logged at most this often.
const LOG_SPACING: Duration = Duration::from_secs(10);

pub struct Window {
    max: usize,
    cut_spacing: Duration,
    state: Mutex<State>,
    pacer: Pacer,
}

struct State {
    limit: f64,
    in_flight: usize,
    /// Sends waiting for a place, oldest first; a place is handed over by
    /// counting it in `in_flight` and then telling the waiter.
    waiting: VecDeque<oneshot::Sender<()>>,
    last_cut: Option<Instant>,
    last_log: Option<Instant>,
}

impl State {
    /// Hands free places to the oldest waiters still waiting.
    fn hand_over(&mut self) {
        while self.in_flight < self.limit as usize {
            let Some(waiter) = self.waiting.pop_front() else {
                return;
            };
            // A waiter that gave up (its deadline passed) has closed its end.
            if waiter.send(()).is_ok() {
                self.in_flight += 1;
            }
        }
    }
}

/// One send's place in the window, given back when dropped.
pub struct Slot<'a>(&'a Window);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut s = self.0.state.lock().unwrap();
        s.in_flight -= 1;
        s.hand_over();
    }
}

impl Window {
    pub fn new(max: usize, rate_per_sec: u32) -> Window {
        let max = max.max(1);
        Window {
            max,
            cut_spacing: CUT_SPACING,
            state: Mutex::new(State {
                limit: max as f64,
                in_flight: 0,
                waiting: VecDeque::new(),
                last_cut: None,
                last_log: None,
            }),
            pacer: Pacer::new(rate_per_sec),
        }
    }

    /// Waits for a place in the window, after those who asked before;
    /// `None` when none came by `deadline`.
    pub async fn enter(&self, deadline: Instant) -> Option<Slot<'_>> {
        let mut given = {
            let mut s = self.state.lock().unwrap();
            if s.waiting.is_empty() && s.in_flight < s.limit as usize {
                s.in_flight += 1;
                return Some(Slot(self));
            }
            let (tx, rx) = oneshot::channel();
            s.waiting.push_back(tx);
            rx
        };
        match tokio::time::timeout_at(deadline, &mut given).await {
            Ok(Ok(())) => Some(Slot(self)),
            // The window itself is gone: nothing to wait for.
            Ok(Err(_)) => None,
            Err(_) => {
                // Closed first, so a place is either handed over before
                // this (and is ours to give back) or never.
                given.close();
                given.try_recv().ok().map(|()| Slot(self))
            }
        }
    }

    /// Waits for the pacer's next slot; false when it comes after `deadline`.
    pub async fn pace(&self, deadline: Instant) -> bool {
        let fraction = self.state.lock().unwrap().limit / self.max as f64;
        self.pacer.wait_until(deadline, fraction).await
    }

    /// The relay accepted a message: grow the window additively.
    pub fn accepted(&self) {
        let mut s = self.state.lock().unwrap();
        s.limit = (s.limit + 1.0 / s.limit).min(self.max as f64);
        s.hand_over();
    }

    /// The relay asked us to slow down (`reply` starts with its code).
    pub fn slow_down(&self, relay: &str, reply: &str) {
        let mut s = self.state.lock().unwrap();
        let now = Instant::now();
        if s.last_cut.is_some_and(|t| now - t < self.cut_spacing) {
            return;
        }
        s.last_cut = Some(now);
        s.limit = (s.limit / 2.0).max(1.0);
        if s.last_log.is_none_or(|t| now - t >= LOG_SPACING) {
            s.last_log = Some(now);
            tracing::warn!(
                relay,
                reply,
                connections = s.limit as usize,
                max = self.max,
                "the relay asks us to slow down; sending on fewer connections and growing back as it accepts mail (if this persists, lower GAZETTE_SMTP_MAX_CONNECTIONS or GAZETTE_SMTP_RATE_PER_SEC to what the relay allows)"
            );
        }
    }

    /// The current number of concurrent sends allowed.
    pub fn limit(&self) -> usize {
        self.state.lock().unwrap().limit as usize
    }
}

/// Whether a temporary reply is the relay asking to slow down rather than
/// a fault: 421 (closing, busy), 451 (local error, often rate limiting)
/// and 454 (temporarily unavailable, often TLS or auth limits).
pub fn is_slow_down(reply: &str) -> bool {
    matches!(reply.get(..4), Some("421 " | "451 " | "454 "))
        || matches!(reply, "421" | "451" | "454")
}

/// Spaces sends evenly to stay under the relay's messages-per-second cap.
struct Pacer {
    interval: Option<Duration>,
    next: tokio::sync::Mutex<Instant>,
}

impl Pacer {
    fn new(rate_per_sec: u32) -> Pacer {
        Pacer {
            interval: (rate_per_sec > 0).then(|| Duration::from_secs(1) / rate_per_sec),
            next: tokio::sync::Mutex::new(Instant::now()),
        }
    }

    /// Waits for the next free slot at `fraction` of the configured rate;
    /// false (and no slot taken) when that slot comes after `deadline`.
    async fn wait_until(&self, deadline: Instant, fraction: f64) -> bool {
        let Some(interval) = self.interval else {
            return true;
        };
        let interval = interval.div_f64(fraction.clamp(0.01, 1.0));
        let slot = {
            let mut next = self.next.lock().await;
            let slot = (*next).max(Instant::now());
            if slot > deadline {
                return false;
            }
            *next = slot + interval;
            slot
        };
        tokio::time::sleep_until(slot).await;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPACING: Duration = Duration::from_millis(20);

    fn window(max: usize) -> Window {
        Window {
            cut_spacing: SPACING,
            ..Window::new(max, 0)
        }
    }

    #[tokio::test]
    async fn halves_on_slow_down_and_grows_back() {
        let w = window(8);
        w.slow_down("r", "451 4.7.1 slow down");
        assert_eq!(w.limit(), 4);
        // A burst of refusals is one cut.
        w.slow_down("r", "451 4.7.1 slow down");
        assert_eq!(w.limit(), 4);
        tokio::time::sleep(SPACING).await;
        w.slow_down("r", "421 4.7.0 too many");
        assert_eq!(w.limit(), 2);
        for _ in 0..100 {
            w.accepted();
        }
        assert_eq!(w.limit(), 8);
    }

    #[tokio::test]
    async fn never_below_one_and_a_full_window_waits() {
        let w = window(2);
        for _ in 0..5 {
            tokio::time::sleep(SPACING).await;
            w.slow_down("r", "454 4.7.0 busy");
        }
        assert_eq!(w.limit(), 1);
        let soon = || Instant::now() + Duration::from_millis(50);
        let a = w.enter(soon()).await;
        assert!(a.is_some());
        assert!(w.enter(soon()).await.is_none(), "window of one is full");
        drop(a);
        assert!(w.enter(soon()).await.is_some());
    }

    #[tokio::test]
    async fn places_go_in_the_order_asked() {
        let w = std::sync::Arc::new(window(1));
        let far = Instant::now() + Duration::from_secs(10);
        let first = w.enter(far).await.unwrap();
        let order = std::sync::Arc::new(Mutex::new(Vec::new()));
        let mut waiters = Vec::new();
        for n in 0..5 {
            let (window, order) = (w.clone(), order.clone());
            waiters.push(tokio::spawn(async move {
                let slot = window.enter(far).await.unwrap();
                order.lock().unwrap().push(n);
                tokio::time::sleep(Duration::from_millis(2)).await;
                drop(slot);
            }));
            // Each waiter is queued before the next one asks.
            while w.state.lock().unwrap().waiting.len() < n + 1 {
                tokio::task::yield_now().await;
            }
        }
        // A place freed while others wait is theirs, not a newcomer's.
        drop(first);
        assert!(w.enter(Instant::now()).await.is_none());
        for t in waiters {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_keeps_no_place() {
        let w = window(1);
        let first = w.enter(Instant::now()).await.unwrap();
        assert!(w
            .enter(Instant::now() + Duration::from_millis(10))
            .await
            .is_none());
        drop(first);
        assert_eq!(w.state.lock().unwrap().in_flight, 0);
        assert!(w.enter(Instant::now()).await.is_some());
    }

    #[test]
    fn slow_down_replies() {
        for r in ["421 4.7.0 busy", "451 4.3.0 later", "454 4.7.0 tls", "451"] {
            assert!(is_slow_down(r), "{r}");
        }
        for r in [
            "450 4.2.1 mailbox busy",
            "452 4.3.1 full",
            "4210 x",
            "timeout",
        ] {
            assert!(!is_slow_down(r), "{r}");
        }
    }
}
