//! What one send run measured, and how it is printed: a block for people,
//! then one `RESULT key=value …` line that `bench/relay.sh` summarises.

use crate::measure::{median, percentile, Ceiling};
use crate::probe::{Kind, Timed};

pub struct Report {
    /// "sqlite" or "postgres".
    pub db: &'static str,
    pub members: u64,
    pub connections: usize,
    pub dkim: bool,
    pub message_bytes: usize,
    pub seed_secs: f64,
    pub ceiling_before: Ceiling,
    pub ceiling_after: Ceiling,
    pub expand_secs: f64,
    /// From the release of the issue to the last send recorded.
    pub secs: f64,
    /// CPU seconds of gazette's process, of the PostgreSQL server's
    /// processes for the database, and of smtp-sink, during the send.
    pub cpu: f64,
    pub server_cpu: Option<f64>,
    pub sink_cpu: Option<f64>,
    /// Share of all the machine's CPUs busy during the send.
    pub machine_busy: f64,
    pub rss_send: f64,
    pub rss_before: f64,
    pub claims: Vec<Timed>,
    pub marks: Vec<Timed>,
    pub totals: Vec<(Kind, (u64, f64, f64))>,
}

fn ms(timed: &[Timed]) -> f64 {
    median(timed.iter().map(|t| t.secs * 1000.0).collect())
}

impl Report {
    fn rate(&self) -> f64 {
        self.members as f64 / self.secs
    }

    /// The mean of the ceiling measured just before and just after.
    fn ceiling(&self) -> f64 {
        (self.ceiling_before.rate + self.ceiling_after.rate) / 2.0
    }

    fn per_1000(&self, cpu: f64) -> f64 {
        cpu / self.members as f64 * 1000.0
    }

    /// Seconds from queued (the release) to recorded sent, sorted.
    fn latencies(&self) -> Vec<f64> {
        let mut l: Vec<f64> = self.marks.iter().map(|t| t.at_ms / 1000.0).collect();
        l.sort_by(|a, b| a.total_cmp(b));
        l
    }

    /// The first and the last ten claims that returned rows.
    fn claim_ends(&self) -> (&[Timed], &[Timed]) {
        let n = self.claims.len();
        (
            &self.claims[..n.min(10)],
            &self.claims[n.saturating_sub(10)..],
        )
    }

    pub fn print(&self, detail: bool) {
        let signed = if self.dkim {
            "DKIM-signed (RSA-2048)"
        } else {
            "unsigned"
        };
        println!(
            "== {}, {} members, {} connections, {signed} ==",
            self.db, self.members, self.connections
        );
        self.print_ceiling();
        self.print_gazette();
        self.print_statements();
        if detail {
            self.print_deciles();
        }
        self.print_result();
    }

    fn print_ceiling(&self) {
        println!(
            "  message: {} bytes (digest, HTML + text, 3 questions, one of {} bytes, reply addresses per member); seeding took {:.0} s",
            self.message_bytes,
            crate::setup::long_question().len(),
            self.seed_secs
        );
        let (b, a) = (&self.ceiling_before, &self.ceiling_after);
        println!(
            "  ceiling: smtp-source, {} sessions, same message: {:.0} msg/s (before {:.0}, after {:.0})",
            self.connections,
            self.ceiling(),
            b.rate,
            a.rate
        );
        print!(
            "    its CPU-seconds per 1,000 messages: smtp-source {:.2}",
            (b.source_cpu + a.source_cpu) / 2.0
        );
        match b.sink_cpu.zip(a.sink_cpu) {
            Some((sb, sa)) => println!(", smtp-sink {:.2}", (sb + sa) / 2.0),
            None => println!(),
        }
    }

    fn print_gazette(&self) {
        println!(
            "  gazette: {} messages accepted in {:.1} s (digest expansion {:.2} s of it)",
            self.members, self.secs, self.expand_secs
        );
        println!("  msg/s: {:.0}", self.rate());
        println!("  ratio to ceiling: {:.2}", self.rate() / self.ceiling());
        match self.server_cpu {
            Some(server) => println!(
                "  CPU-seconds per 1,000 messages: {:.2} gazette + {:.2} PostgreSQL server",
                self.per_1000(self.cpu),
                self.per_1000(server)
            ),
            None => println!(
                "  CPU-seconds per 1,000 messages: {:.2}",
                self.per_1000(self.cpu)
            ),
        }
        if let Some(sink) = self.sink_cpu {
            println!(
                "    meanwhile smtp-sink: {:.2} per 1,000",
                self.per_1000(sink)
            );
        }
        println!(
            "    machine busy: {:.0}% of {} CPUs (every process on it)",
            self.machine_busy * 100.0,
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
        let latency = self.latencies();
        println!(
            "  queued -> accepted: p50 {:.1} s, p99 {:.1} s",
            percentile(&latency, 50.0),
            percentile(&latency, 99.0)
        );
        println!(
            "  peak RSS: {:.0} MB during the send ({:.0} MB before it: setup and seeding)",
            self.rss_send, self.rss_before
        );
        let (first, last) = self.claim_ends();
        let rows: u64 = self.claims.iter().map(|t| t.rows).sum();
        println!(
            "  claim: {:.1} ms at the start of the queue, {:.1} ms at the end (median of the first / last 10 of {} claims, {:.0} rows each on average)",
            ms(first),
            ms(last),
            self.claims.len(),
            rows as f64 / self.claims.len().max(1) as f64
        );
    }

    fn print_statements(&self) {
        println!("  statement time (summed over connections):");
        for (kind, (count, secs, max)) in &self.totals {
            if *count > 0 {
                println!(
                    "    {:<36} {:>8} runs {:>8.1} s  mean {:>7.2} ms  max {:>8.1} ms",
                    kind.label(),
                    count,
                    secs,
                    secs / *count as f64 * 1000.0,
                    max * 1000.0
                );
            }
        }
    }

    /// Claim and mark_sent percentiles, then how they (and the rate)
    /// change as the queue drains: the run cut into tenths by time.
    fn print_deciles(&self) {
        for (name, timed) in [("claim", &self.claims), ("mark_sent", &self.marks)] {
            let mut ms: Vec<f64> = timed.iter().map(|t| t.secs * 1000.0).collect();
            ms.sort_by(|a, b| a.total_cmp(b));
            println!(
                "  {name} ms: p50 {:.2}, p90 {:.2}, p99 {:.2}, max {:.2}",
                percentile(&ms, 50.0),
                percentile(&ms, 90.0),
                percentile(&ms, 99.0),
                percentile(&ms, 100.0)
            );
        }
        println!("  by tenth of the run: sent, msg/s, claim median ms, mark_sent mean ms");
        let span = self.secs * 1000.0;
        for d in 0..10 {
            let (lo, hi) = (span * d as f64 / 10.0, span * (d + 1) as f64 / 10.0);
            let inside = |t: &&Timed| t.at_ms >= lo && t.at_ms < hi;
            let claims: Vec<Timed> = self.claims.iter().filter(inside).copied().collect();
            let marks: Vec<&Timed> = self.marks.iter().filter(inside).collect();
            let mark_mean =
                marks.iter().map(|t| t.secs * 1000.0).sum::<f64>() / marks.len().max(1) as f64;
            println!(
                "    {:>3}-{:<3}% {:>8} {:>8.0} {:>10.2} {:>10.2}",
                d * 10,
                (d + 1) * 10,
                marks.len(),
                marks.len() as f64 / (span / 10_000.0),
                ms(&claims),
                mark_mean
            );
        }
    }

    fn print_result(&self) {
        let latency = self.latencies();
        let (first, last) = self.claim_ends();
        println!(
            "RESULT db={} members={} dkim={} rate={:.1} ceiling={:.1} ratio={:.3} cpu_per_1000={:.3} p50_s={:.2} p99_s={:.2} rss_mb={:.1} claim_start_ms={:.2} claim_end_ms={:.2}",
            self.db,
            self.members,
            self.dkim,
            self.rate(),
            self.ceiling(),
            self.rate() / self.ceiling(),
            self.per_1000(self.cpu + self.server_cpu.unwrap_or(0.0)),
            percentile(&latency, 50.0),
            percentile(&latency, 99.0),
            self.rss_send,
            ms(first),
            ms(last)
        );
    }
}
