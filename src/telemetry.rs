//! Counters and histograms for `/metrics`, through the `metrics` crate and
//! its Prometheus exporter. Events are counted where they happen (a
//! message received, a delivery recorded), so a scrape reads memory, not
//! whole tables; the few numbers that only the database knows are cheap,
//! indexed gauges added at scrape time (see `src/web/metrics.rs`).
//!
//! Counters are per process: with several `gazette serve` processes,
//! scrape each (Prometheus sums them with `sum by`).

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// Inbound messages handled, by `status` and `kind`.
pub const INBOUND: &str = "gazette_inbound_messages_total";
/// Deliveries recorded, by `kind` and `result` (sent, deferred, failed,
/// cancelled, handed_back).
pub const DELIVERIES: &str = "gazette_deliveries_total";
/// Seconds from a delivery being queued to the relay accepting it.
pub const QUEUED_TO_SENT: &str = "gazette_delivery_latency_seconds";
/// Seconds one SMTP transaction with the relay took.
pub const RELAY_TRANSACTION: &str = "gazette_relay_transaction_seconds";
/// Digest issues released (expanded into deliveries), and their recipients.
pub const ISSUES_SENT: &str = "gazette_digest_issues_sent_total";
pub const ISSUE_RECIPIENTS: &str = "gazette_digest_recipients_total";
/// SMTP sessions the inbound listener refused, by `reason`.
pub const SMTP_REFUSED: &str = "gazette_smtp_refused_total";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the recorder (once per process; later calls return the same
/// handle) and describes every metric.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Suffix("_seconds".into()),
                &[
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                    300.0, 900.0, 3600.0,
                ],
            )
            .expect("the bucket list is not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // A second recorder (tests start several apps in one process) is
        // refused by `metrics`; the first one keeps counting for all.
        let _ = metrics::set_global_recorder(recorder);
        describe();
        handle
    })
}

fn describe() {
    use metrics::{describe_counter, describe_histogram, Unit};
    describe_counter!(
        INBOUND,
        "Inbound messages handled, by outcome status and kind."
    );
    describe_counter!(DELIVERIES, "Deliveries recorded, by kind and result.");
    describe_histogram!(
        QUEUED_TO_SENT,
        Unit::Seconds,
        "From a delivery being queued to the relay accepting it."
    );
    describe_histogram!(
        RELAY_TRANSACTION,
        Unit::Seconds,
        "One SMTP transaction with the relay (MAIL to the reply after DATA)."
    );
    describe_counter!(ISSUES_SENT, "Digest issues released into deliveries.");
    describe_counter!(
        ISSUE_RECIPIENTS,
        "Deliveries created by released digest issues."
    );
    describe_counter!(SMTP_REFUSED, "Inbound SMTP connections refused, by reason.");
}

/// The metrics recorded in this process, in Prometheus' text format.
pub fn render() -> String {
    install().render()
}
