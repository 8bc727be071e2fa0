//! Timings of gazette's own statements, taken from sqlx's query log: every
//! statement sqlx runs ends in a `sqlx::query` tracing event with its text,
//! rows and elapsed time (measured on the connection, so it includes
//! SQLite's busy waits for the write lock, not waits for a pool
//! connection). The bench installs this layer as the only subscriber and
//! enables nothing else, so the pipeline runs as `gazette serve` runs it.
//!
//! Memory is reserved up front (one slot per expected send) so recording
//! does not show in the peak RSS measured during the send.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// The statements worth telling apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Claim,
    MarkSent,
    Member,
    Other,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Claim, Kind::MarkSent, Kind::Member, Kind::Other];

    fn of(sql: &str) -> Kind {
        if sql.contains("SET status = 'sending'") {
            Kind::Claim
        } else if sql.contains("SET status = 'sent'") {
            Kind::MarkSent
        } else if sql.contains("FROM members WHERE id =") {
            Kind::Member
        } else {
            Kind::Other
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Claim => "claim (UPDATE … RETURNING a batch)",
            Kind::MarkSent => "mark_sent (a batch of rows, one statement)",
            Kind::Member => "member lookup (render)",
            Kind::Other => "other statements",
        }
    }
}

/// One timed statement: when it ended (ms since the probe's epoch), how
/// long it ran, and how many rows it returned.
#[derive(Clone, Copy, Debug)]
pub struct Timed {
    pub at_ms: f64,
    pub secs: f64,
    pub rows: u64,
}

#[derive(Default)]
struct Totals {
    count: u64,
    secs: f64,
    max: f64,
}

pub struct Probe {
    epoch: Mutex<Instant>,
    sent: AtomicU64,
    claims: Mutex<Vec<Timed>>,
    marks: Mutex<Vec<Timed>>,
    totals: Mutex<[Totals; 4]>,
}

impl Probe {
    pub fn new(expected_sends: usize) -> Probe {
        Probe {
            epoch: Mutex::new(Instant::now()),
            sent: AtomicU64::new(0),
            claims: Mutex::new(Vec::with_capacity(expected_sends / 10 + 1000)),
            marks: Mutex::new(Vec::with_capacity(expected_sends + 1000)),
            totals: Mutex::default(),
        }
    }

    /// Starts the timed window: counts and timings start from zero.
    pub fn reset(&self) {
        *self.epoch.lock().unwrap() = Instant::now();
        self.sent.store(0, Ordering::SeqCst);
        self.claims.lock().unwrap().clear();
        self.marks.lock().unwrap().clear();
        *self.totals.lock().unwrap() = Default::default();
    }

    /// Rows recorded as sent since the last reset.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }

    /// Claims that returned rows, in order.
    pub fn claims(&self) -> Vec<Timed> {
        self.claims.lock().unwrap().clone()
    }

    /// Every mark_sent, in order of completion.
    pub fn marks(&self) -> Vec<Timed> {
        self.marks.lock().unwrap().clone()
    }

    /// (count, total seconds, longest) per kind of statement.
    pub fn totals(&self, kind: Kind) -> (u64, f64, f64) {
        let t = &self.totals.lock().unwrap()[kind as usize];
        (t.count, t.secs, t.max)
    }

    fn record(&self, kind: Kind, secs: f64, rows_returned: u64, rows_affected: u64) {
        let at_ms = self.epoch.lock().unwrap().elapsed().as_secs_f64() * 1000.0;
        {
            let t = &mut self.totals.lock().unwrap()[kind as usize];
            t.count += 1;
            t.secs += secs;
            t.max = t.max.max(secs);
        }
        match kind {
            Kind::Claim if rows_returned > 0 => self.claims.lock().unwrap().push(Timed {
                at_ms,
                secs,
                rows: rows_returned,
            }),
            Kind::MarkSent if rows_affected > 0 => {
                self.marks.lock().unwrap().push(Timed {
                    at_ms,
                    secs,
                    rows: rows_affected,
                });
                self.sent.fetch_add(rows_affected, Ordering::SeqCst);
            }
            _ => {}
        }
    }
}

/// The fields of one `sqlx::query` event. sqlx puts the whole text in
/// `db.statement` only when it is longer than the four-word `summary`, so
/// the statement, when there is one, decides the kind.
#[derive(Default)]
struct Fields {
    summary: Option<Kind>,
    statement: Option<Kind>,
    secs: f64,
    rows_returned: u64,
    rows_affected: u64,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "db.statement" if !value.is_empty() => self.statement = Some(Kind::of(value)),
            "summary" => self.summary = Some(Kind::of(value)),
            _ => {}
        }
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.secs = value;
        }
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "rows_returned" => self.rows_returned = value,
            "rows_affected" => self.rows_affected = value,
            _ => {}
        }
    }
    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

/// The layer handing sqlx's events to a [`Probe`].
pub struct ProbeLayer(pub &'static Probe);

impl<S: Subscriber> Layer<S> for ProbeLayer {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut f = Fields::default();
        event.record(&mut f);
        let kind = f.statement.or(f.summary).unwrap_or(Kind::Other);
        self.0
            .record(kind, f.secs, f.rows_returned, f.rows_affected);
    }
}

/// Installs the probe as the process's only subscriber, listening to
/// `sqlx::query` alone.
pub fn install(expected_sends: usize) -> &'static Probe {
    use tracing_subscriber::prelude::*;
    let probe: &'static Probe = Box::leak(Box::new(Probe::new(expected_sends)));
    let only_sqlx = tracing_subscriber::filter::Targets::new()
        .with_target("sqlx::query", tracing::Level::DEBUG);
    tracing_subscriber::registry()
        .with(ProbeLayer(probe).with_filter(only_sqlx))
        .init();
    probe
}
