//! The claim's cost does not grow with the queue: with a million rows in
//! the outbox, the claim reads the front of its two partial indexes (one
//! per lane) and the lease sweep the front of the leased-rows index, with
//! no table scan and no sort, on SQLite and PostgreSQL. Checked on the
//! plans the databases choose after `ANALYZE`.

use crate::common::*;
use gazette::store::Store;

const ROWS: i64 = 1_000_000;

/// A million deliveries: mostly queued digests, one in ten sent, one in a
/// thousand a queued notice, a few leased. Made in one statement each.
const FILL_SQLITE: &str = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
     INSERT INTO outbox (dedupe_key, list_id, member_id, recipient, kind, ref_id, payload, status, attempts, next_attempt_at, retry_since, lease_until, lease_owner, created_at) \
     SELECT 'row:' || i, 1, i, 'm' || i || '@example.org', \
            CASE WHEN i % 1000 = 1 THEN 'notice' ELSE 'digest' END, 1, '{}', \
            CASE WHEN i % 10 = 0 THEN 'sent' WHEN i % 5000 = 3 THEN 'sending' ELSE 'queued' END, 0, \
            i, i, CASE WHEN i % 5000 = 3 THEN 9000000000000 END, CASE WHEN i % 5000 = 3 THEN 'w' END, i \
     FROM n";
const FILL_POSTGRES: &str = "INSERT INTO outbox (dedupe_key, list_id, member_id, recipient, kind, ref_id, payload, status, attempts, next_attempt_at, retry_since, lease_until, lease_owner, created_at) \
     SELECT 'row:' || i, 1, i, 'm' || i || '@example.org', \
            CASE WHEN i % 1000 = 1 THEN 'notice' ELSE 'digest' END, 1, '{}', \
            CASE WHEN i % 10 = 0 THEN 'sent' WHEN i % 5000 = 3 THEN 'sending' ELSE 'queued' END, 0, \
            i, i, CASE WHEN i % 5000 = 3 THEN 9000000000000 END, CASE WHEN i % 5000 = 3 THEN 'w' END, i \
     FROM generate_series(1, $1) AS i";

async fn filled(url: &str, fill: &'static str) -> Store {
    let store = Store::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    if url.starts_with("postgres") {
        // A throwaway table: no write-ahead log to write (the plans do not
        // depend on it), so the fill stays well within the test's time.
        sqlx::query("ALTER TABLE outbox SET UNLOGGED")
            .execute(store.pool())
            .await
            .unwrap();
    }
    let started = std::time::Instant::now();
    let done = sqlx::query(fill)
        .bind(ROWS)
        .execute(store.pool())
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), ROWS as u64);
    sqlx::query("ANALYZE").execute(store.pool()).await.unwrap();
    eprintln!("{ROWS} rows in {:.1} s", started.elapsed().as_secs_f64());
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_and_sweep_read_only_their_indexes_at_a_million_rows_on_sqlite() {
    let db = sqlite_db();
    let store = filled(&db.url, FILL_SQLITE).await;
    let (claim, sweep) = store.explain_claim().await.unwrap();
    eprintln!("claim:\n{claim}\nsweep:\n{sweep}");
    for index in ["outbox_queued_notice", "outbox_queued_bulk"] {
        assert!(
            claim.contains(&format!("INDEX {index} (")),
            "the claim does not read {index}:\n{claim}"
        );
    }
    assert!(!claim.contains("TEMP B-TREE"), "the claim sorts:\n{claim}");
    assert!(
        !claim.lines().any(|l| l.contains("SCAN outbox")),
        "the claim scans the table:\n{claim}"
    );
    assert!(
        sweep.contains("INDEX outbox_leased ("),
        "the sweep does not read outbox_leased:\n{sweep}"
    );
    assert!(!sweep.contains("SCAN outbox"), "the sweep scans:\n{sweep}");
    // And it claims what it should: the notices' lane first.
    assert_eq!(
        claimed_ids(&store, 3).await,
        [1, 1001, 2001],
        "due notices first, oldest first"
    );
    let got = store.claim("t", 60_000, 1000).await.unwrap().rows;
    assert_eq!(got.len(), 1000);
    let notices = got.iter().filter(|r| r.kind.as_str() == "notice").count();
    assert_eq!(notices, 997, "the rest of the notices, then bulk mail");
    report_claim_time(&store).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_and_sweep_read_only_their_indexes_at_a_million_rows_on_postgres() {
    let Some(admin) = postgres_url() else {
        return;
    };
    let db = postgres_db(&admin).await;
    let store = filled(&db.url, FILL_POSTGRES).await;
    let (claim, sweep) = store.explain_claim().await.unwrap();
    eprintln!("claim:\n{claim}\nsweep:\n{sweep}");
    for index in ["outbox_queued_notice", "outbox_queued_bulk"] {
        assert!(
            claim.contains(&format!("Index Scan using {index} on outbox")),
            "the claim does not read {index}:\n{claim}"
        );
    }
    assert!(
        !claim.contains("Seq Scan on outbox"),
        "the claim scans the table:\n{claim}"
    );
    assert!(!claim.contains("Sort"), "the claim sorts:\n{claim}");
    assert!(
        sweep.contains("outbox_leased"),
        "the sweep does not read outbox_leased:\n{sweep}"
    );
    assert!(!sweep.contains("Seq Scan"), "the sweep scans:\n{sweep}");
    assert_eq!(
        claimed_ids(&store, 3).await,
        [1, 1001, 2001],
        "due notices first, oldest first"
    );
    report_claim_time(&store).await;
    store.close().await;
    drop_database(&admin, &db.url).await;
}

/// How long a claim of 50 takes at this size (for people; not asserted).
async fn report_claim_time(store: &Store) {
    let started = std::time::Instant::now();
    let n = store.claim("t", 60_000, 50).await.unwrap().rows.len();
    eprintln!(
        "a claim of {n} at {ROWS} rows: {:.1} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
}

/// The ids a claim of `n` takes, in order.
async fn claimed_ids(store: &Store, n: i64) -> Vec<i64> {
    let mut ids: Vec<i64> = store
        .claim("t", 60_000, n)
        .await
        .unwrap()
        .rows
        .iter()
        .map(|r| r.id)
        .collect();
    ids.sort();
    ids
}

/// The million rows are not left on the server for the next run to drop.
async fn drop_database(admin: &str, url: &str) {
    use sqlx::Connection;
    let name = url.rsplit('/').next().unwrap();
    let mut conn = sqlx::AnyConnection::connect(admin).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
}
