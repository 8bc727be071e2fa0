//! `cargo test --test score`: gazette scored against every corpus in
//! `../shared/corpora` (see each corpus's INDEX.md): cases passed / total
//! per corpus and metric, with the failing cases listed under the table.
//! The process fails when a score falls below its committed floor, so
//! `cargo test` guards every floor; raise a floor when you improve a score.
//!
//! Without the corpora folder the run prints why it skipped and passes,
//! except under `CI=true`, where a missing corpus is a failure: CI must
//! not go green by not looking. `GAZETTE_CORPORA=DIR` reads the corpora
//! from elsewhere. `cargo test --test score -- WORD` shows only the rows
//! whose corpus or metric contains WORD.

mod bounces;
mod mime;
mod replies;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The lowest acceptable score of one row.
#[derive(Debug, Clone, Copy)]
pub enum Floor {
    /// At least this many cases pass.
    Cases(usize),
    /// At least this share of cases pass, in percent.
    Percent(f64),
}

/// One scored metric of one corpus.
pub struct Row {
    pub corpus: &'static str,
    pub metric: String,
    pub passed: usize,
    pub total: usize,
    pub floor: Floor,
    pub failures: Vec<String>,
}

impl Row {
    pub fn new(corpus: &'static str, metric: impl Into<String>, floor: Floor) -> Self {
        Row {
            corpus,
            metric: metric.into(),
            passed: 0,
            total: 0,
            floor,
            failures: Vec::new(),
        }
    }

    /// Counts one case; `why` describes it when it fails.
    pub fn check(&mut self, ok: bool, why: impl FnOnce() -> String) {
        self.total += 1;
        if ok {
            self.passed += 1;
        } else {
            self.failures.push(why());
        }
    }

    fn percent(&self) -> f64 {
        100.0 * self.passed as f64 / self.total.max(1) as f64
    }

    fn meets_floor(&self) -> bool {
        match self.floor {
            Floor::Cases(n) => self.passed >= n,
            Floor::Percent(p) => self.percent() >= p,
        }
    }
}

/// The corpora folder: `$GAZETTE_CORPORA`, else `../shared/corpora` next
/// to the repository.
fn corpora() -> PathBuf {
    match std::env::var_os("GAZETTE_CORPORA") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora"),
    }
}

/// A corpus directory if present; `missing` collects the absent ones.
pub fn corpus(name: &str, missing: &mut Vec<String>) -> Option<PathBuf> {
    let dir = corpora().join(name);
    if dir.is_dir() {
        Some(dir)
    } else {
        missing.push(name.to_string());
        None
    }
}

fn main() -> ExitCode {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let mut missing = Vec::new();
    let mut rows = Vec::new();
    rows.extend(replies::discourse(&mut missing));
    rows.extend(replies::github(&mut missing));
    rows.extend(bounces::sisimai(&mut missing));
    rows.extend(mime::stalwart(&mut missing));
    rows.retain(|r| {
        filter.is_empty()
            || filter
                .iter()
                .any(|f| r.corpus.contains(f.as_str()) || r.metric.contains(f.as_str()))
    });
    print_table(&rows);
    let mut failed = false;
    for name in &missing {
        if ci {
            println!(
                "FAIL: corpus {name} not found in {} (CI=true)",
                corpora().display()
            );
            failed = true;
        } else {
            println!(
                "skipped: corpus {name} not found in {} (set CI=true to make this a failure)",
                corpora().display()
            );
        }
    }
    for r in rows.iter().filter(|r| !r.meets_floor()) {
        println!(
            "FAIL: {} {}: {}/{} is below its floor {}",
            r.corpus,
            r.metric,
            r.passed,
            r.total,
            show_floor(r.floor)
        );
        failed = true;
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn show_floor(floor: Floor) -> String {
    match floor {
        Floor::Cases(n) => format!("{n} cases"),
        Floor::Percent(p) => format!("{p:.1}%"),
    }
}

fn print_table(rows: &[Row]) {
    if rows.is_empty() {
        println!("no corpus scored");
        return;
    }
    let width = rows
        .iter()
        .map(|r| r.corpus.len() + r.metric.len() + 3)
        .max()
        .unwrap_or(0);
    println!(
        "{:<width$}  {:>9}  {:>6}  floor",
        "corpus: metric", "passed", "%"
    );
    for r in rows {
        let name = format!("{}: {}", r.corpus, r.metric);
        println!(
            "{name:<width$}  {:>9}  {:>5.1}%  {}{}",
            format!("{}/{}", r.passed, r.total),
            r.percent(),
            show_floor(r.floor),
            if r.meets_floor() { "" } else { "  BELOW FLOOR" }
        );
    }
    for r in rows.iter().filter(|r| !r.failures.is_empty()) {
        println!(
            "\n{}: {} — {} failing:",
            r.corpus,
            r.metric,
            r.failures.len()
        );
        for f in &r.failures {
            println!("  {f}");
        }
    }
    println!();
}
