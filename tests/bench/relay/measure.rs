//! What the bench reads from outside gazette: CPU time and peak memory from
//! `/proc` (Linux), and the ceiling, Postfix's `smtp-source` sending the
//! same message over the same number of sessions into the same sink.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Clock ticks per second, as `/proc/*/stat` counts CPU time.
fn ticks_per_sec() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// User + system CPU seconds of process `pid` ("self" for this one), all
/// threads together; `None` when it is gone.
pub fn cpu_secs(pid: &str) -> Option<f64> {
    stat_secs(pid, 11)
}

/// CPU seconds of this process's children that have ended (smtp-source).
pub fn children_cpu_secs() -> f64 {
    stat_secs("self", 13).unwrap_or(f64::NAN)
}

/// Fields `at` and `at + 1` of `/proc/PID/stat` (counted after the
/// command name), summed, in seconds.
fn stat_secs(pid: &str, at: usize) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count from its ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let (a, b): (f64, f64) = (
        fields.get(at)?.parse().ok()?,
        fields.get(at + 1)?.parse().ok()?,
    );
    Some((a + b) / ticks_per_sec())
}

/// The whole machine's (busy, total) CPU time so far, in ticks: what
/// everyone on it used, not only this bench.
pub fn machine_ticks() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    let total: f64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3).unwrap_or(&0.0) + ticks.get(4).unwrap_or(&0.0);
    (total - idle, total)
}

/// Share of all CPUs busy between two [`machine_ticks`] readings.
pub fn busy_share(before: (f64, f64), after: (f64, f64)) -> f64 {
    (after.0 - before.0) / (after.1 - before.1).max(1.0)
}

/// This process's peak resident memory (VmHWM), in MB.
pub fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Starts peak-RSS accounting afresh (Linux `clear_refs` 5), so what
/// seeding the database took does not count as the send's.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// One measurement of the ceiling, with what it cost in CPU.
pub struct Ceiling {
    pub rate: f64,
    /// smtp-source's CPU seconds per 1,000 messages.
    pub source_cpu: f64,
    /// smtp-sink's, when its pid is known.
    pub sink_cpu: Option<f64>,
}

/// The relay's ceiling: `smtp-source` sending `count` copies of the
/// message in `file` over `sessions` parallel sessions, each session
/// reusing its connection (`-d`), into `sink` (process `sink_pid`).
pub fn ceiling(
    source: &Path,
    sink: &str,
    sink_pid: Option<&str>,
    file: &Path,
    count: usize,
    sessions: usize,
) -> anyhow::Result<Ceiling> {
    let (children0, sink0) = (children_cpu_secs(), sink_pid.and_then(cpu_secs));
    let start = Instant::now();
    let out = Command::new(source)
        .args(["-d", "-s", &sessions.to_string(), "-m", &count.to_string()])
        .args(["-f", "pm+bounce-bench@lists.example.org"])
        .args(["-t", "member@example.org", "-M", "gazette.bench"])
        .arg("-F")
        .arg(file)
        .arg(sink)
        .output()
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot run {} ({e}); install Postfix's test tools (bench/relay.sh does) or set GAZETTE_BENCH_SMTP_SOURCE",
                source.display()
            )
        })?;
    let secs = start.elapsed().as_secs_f64();
    anyhow::ensure!(
        out.status.success(),
        "smtp-source failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let per_k = |cpu: f64| cpu / count as f64 * 1000.0;
    Ok(Ceiling {
        rate: count as f64 / secs,
        source_cpu: per_k(children_cpu_secs() - children0),
        sink_cpu: sink0
            .zip(sink_pid.and_then(cpu_secs))
            .map(|(a, b)| per_k(b - a)),
    })
}

/// Percentile `p` (0-100) of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    percentile(&v, 50.0)
}
