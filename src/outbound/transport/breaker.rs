//! A circuit breaker for one relay: when connecting fails several times in
//! a row, stop connecting for a while instead of trying again for every
//! queued message (a million-member issue would otherwise turn a relay
//! outage into a million connection attempts).
//!
//! Closed: connects go ahead. After [`OPEN_AFTER`] failures in a row it
//! opens: sends return at once without touching the network, and the
//! workers wait ([`Breaker::reopens_at`]) rather than claim rows they
//! cannot send. When the pause ends it is half-open: one send (the probe)
//! may connect; if it connects the breaker closes, if not it opens again
//! for twice as long, up to [`MAX_PAUSE`]. So an outage of `T` seconds
//! costs about `OPEN_AFTER + log2(T) + T / MAX_PAUSE` connection attempts
//! (plus those already in flight when it opened), whatever the queue holds.

use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Connection failures in a row that open the breaker.
pub const OPEN_AFTER: u32 = 5;
/// The first pause; each failed probe doubles it.
const FIRST_PAUSE: Duration = Duration::from_secs(1);
/// The longest pause between probes.
pub const MAX_PAUSE: Duration = Duration::from_secs(30);

/// What a send may do now.
#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    /// Closed: connect as usual.
    Go,
    /// Half-open: this send is the probe; report its connect outcome.
    Probe,
    /// Open (or another send is probing): do not connect.
    Hold,
}

pub struct Breaker {
    relay: String,
    first_pause: Duration,
    max_pause: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    failures_in_a_row: u32,
    /// Set while open: no connects before this instant.
    open_until: Option<Instant>,
    pause: Duration,
    probing: bool,
    opened_at: Option<Instant>,
    probes: u32,
}

impl Breaker {
    pub fn new(relay: String) -> Breaker {
        Breaker::with_pauses(relay, FIRST_PAUSE, MAX_PAUSE)
    }

    fn with_pauses(relay: String, first_pause: Duration, max_pause: Duration) -> Breaker {
        Breaker {
            relay,
            first_pause,
            max_pause,
            state: Mutex::new(State::default()),
        }
    }

    pub fn admit(&self) -> Admit {
        let mut s = self.state.lock().unwrap();
        match s.open_until {
            None => Admit::Go,
            Some(until) if Instant::now() < until || s.probing => Admit::Hold,
            Some(_) => {
                s.probing = true;
                s.probes += 1;
                Admit::Probe
            }
        }
    }

    /// While sends are held, when to look again: the end of the pause, or
    /// (while a probe runs) shortly, for its outcome. `None` when a send may
    /// go now, as a probe or as usual.
    pub fn held_until(&self) -> Option<Instant> {
        let s = self.state.lock().unwrap();
        let until = s.open_until?;
        if s.probing {
            Some(Instant::now() + Duration::from_millis(200))
        } else {
            (Instant::now() < until).then_some(until)
        }
    }

    /// A connection (greeting and EHLO included) was made.
    pub fn connected(&self) {
        let mut s = self.state.lock().unwrap();
        if let Some(opened) = s.opened_at {
            tracing::warn!(
                relay = %self.relay,
                down_for_s = opened.elapsed().as_secs(),
                probes = s.probes,
                "relay reachable again; resuming delivery"
            );
        }
        *s = State::default();
    }

    /// Connecting failed (refused, timed out, no greeting, or a 4xx greeting).
    pub fn failed(&self, why: &str) {
        let mut s = self.state.lock().unwrap();
        s.failures_in_a_row += 1;
        if s.probing {
            s.probing = false;
            s.pause = (s.pause * 2).min(self.max_pause);
            s.open_until = Some(Instant::now() + s.pause);
            tracing::info!(relay = %self.relay, error = %why, next_probe_in_s = s.pause.as_secs(), "relay still unreachable");
        } else if s.open_until.is_none() && s.failures_in_a_row >= OPEN_AFTER {
            s.pause = self.first_pause;
            s.open_until = Some(Instant::now() + s.pause);
            s.opened_at = Some(Instant::now());
            tracing::error!(
                relay = %self.relay,
                failures_in_a_row = s.failures_in_a_row,
                last_error = %why,
                "cannot connect to the relay; holding delivery (queued mail waits, nothing is lost) and probing it every {}-{} s. Check that the relay is running and reachable from this host at the host and port in GAZETTE_SMTP_URL",
                self.first_pause.as_secs(),
                self.max_pause.as_secs()
            );
        }
    }

    /// The probe ended without an outcome (its deadline came first): let
    /// another send probe.
    pub fn probe_abandoned(&self) {
        self.state.lock().unwrap().probing = false;
    }
}

/// Held by a probing send; if the send is dropped before it reports, the
/// probe slot is handed back.
pub struct ProbeGuard<'a> {
    pub breaker: &'a Breaker,
    pub armed: bool,
}

impl ProbeGuard<'_> {
    pub fn connected(&mut self) {
        self.armed = false;
        self.breaker.connected();
    }
    pub fn failed(&mut self, why: &str) {
        self.armed = false;
        self.breaker.failed(why);
    }
}

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.breaker.probe_abandoned();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(30);

    fn breaker() -> Breaker {
        Breaker::with_pauses("relay".into(), MS, MS * 4)
    }

    #[tokio::test]
    async fn opens_after_failures_probes_and_closes() {
        let b = breaker();
        for _ in 0..OPEN_AFTER - 1 {
            assert_eq!(b.admit(), Admit::Go);
            b.failed("refused");
        }
        assert_eq!(b.admit(), Admit::Go);
        b.failed("refused");
        assert_eq!(b.admit(), Admit::Hold);
        assert!(b.held_until().is_some());
        tokio::time::sleep(MS).await;
        assert!(b.held_until().is_none(), "half-open: a probe may go");
        assert_eq!(b.admit(), Admit::Probe);
        assert!(b.held_until().is_some(), "held while the probe runs");
        assert_eq!(b.admit(), Admit::Hold, "one probe at a time");
        b.failed("refused");
        // The pause doubled.
        tokio::time::sleep(MS).await;
        assert_eq!(b.admit(), Admit::Hold);
        tokio::time::sleep(MS).await;
        assert_eq!(b.admit(), Admit::Probe);
        b.connected();
        assert_eq!(b.admit(), Admit::Go);
        assert!(b.held_until().is_none());
    }

    #[tokio::test]
    async fn pause_is_capped_and_an_abandoned_probe_frees_the_slot() {
        let b = breaker();
        for _ in 0..OPEN_AFTER {
            b.failed("refused");
        }
        for _ in 0..6 {
            tokio::time::sleep(MS * 4).await;
            assert_eq!(b.admit(), Admit::Probe);
            b.failed("refused");
        }
        assert!(b.held_until().unwrap() <= Instant::now() + MS * 4);
        tokio::time::sleep(MS * 4).await;
        {
            let g = ProbeGuard {
                breaker: &b,
                armed: b.admit() == Admit::Probe,
            };
            assert!(g.armed);
        }
        assert_eq!(b.admit(), Admit::Probe);
    }
}
