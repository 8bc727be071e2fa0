//! The outbox: one row per (message, recipient), unique by `dedupe_key`, so
//! a message is queued once for each recipient however many processes
//! queue it. Workers claim rows with a lease; an expired lease (a worker
//! that died) makes the row claimable again. A row is accepted by the relay
//! at most once, except in the window [`crate::outbound::record`] names
//! (the relay accepted it, and that was not recorded before the lease
//! ended); receivers can tell such a second copy by its Message-ID.

use super::members::MemberRow;
use super::{col, state, text, OutboxKind, OutboxStatus, Result, Store};
use sqlx::any::AnyRow;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    pub dedupe_key: String,
    pub list_id: i64,
    pub member_id: Option<i64>,
    pub recipient: String,
    pub kind: OutboxKind,
    pub ref_id: Option<i64>,
    pub payload: String,
    pub attempts: i64,
    /// Temporary failures are retried until this plus `retry_for`: the
    /// creation time, or when an operator last ran `outbox retry`.
    pub retry_since: i64,
    pub created_at: i64,
}

impl OutboxRow {
    fn from_row(r: &AnyRow) -> Result<Self> {
        Ok(OutboxRow {
            id: col(r, "id")?,
            dedupe_key: col(r, "dedupe_key")?,
            list_id: col(r, "list_id")?,
            member_id: col(r, "member_id")?,
            recipient: col(r, "recipient")?,
            kind: state(r, "kind")?,
            ref_id: col(r, "ref_id")?,
            payload: col(r, "payload")?,
            attempts: col(r, "attempts")?,
            retry_since: col(r, "retry_since")?,
            created_at: col(r, "created_at")?,
        })
    }
}

/// What one claim took, with the lease as the database's clock has it:
/// the rows are `owner`'s until `lease_until`, `lease_until - db_now` ms
/// after the claim read the clock.
#[derive(Debug, Clone, Default)]
pub struct Claim {
    pub rows: Vec<OutboxRow>,
    pub lease_until: i64,
    pub db_now: i64,
}

impl Claim {
    /// The lease left when the claim read the clock (ms).
    pub fn lease_left_ms(&self) -> i64 {
        self.lease_until - self.db_now
    }
}

/// What became of one delivery, to be recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The relay accepted it (`at`: when, epoch ms).
    Sent {
        reply: String,
        at: i64,
    },
    /// A temporary failure: queued again for `next_at`.
    Retry {
        next_at: i64,
        reply: String,
    },
    Failed {
        reply: String,
    },
    /// Claimed but never handed to the relay: back to the queue, the
    /// attempt not counted.
    Released,
    /// No longer meant to be sent.
    Cancelled {
        reason: String,
    },
}

/// An outcome for row `id`, reported by the worker that leased it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub id: i64,
    pub owner: String,
    pub outcome: Outcome,
}

impl Outcome {
    /// Its statement in `RECORD_SQLITE` / `RECORD_POSTGRES`.
    fn statement(&self) -> usize {
        match self {
            Outcome::Sent { .. } => 0,
            Outcome::Cancelled { .. } => 1,
            Outcome::Failed { .. } => 2,
            Outcome::Retry { .. } => 3,
            Outcome::Released => 4,
        }
    }
}

impl Recorded {
    /// `[id, owner, number, text]` for the batch statements.
    fn as_json(&self) -> serde_json::Value {
        let (num, txt) = match &self.outcome {
            Outcome::Sent { reply, at } => (*at, text(reply)),
            Outcome::Retry { next_at, reply } => (*next_at, text(reply)),
            Outcome::Failed { reply } => (0, text(reply)),
            Outcome::Cancelled { reason } => (0, text(reason)),
            Outcome::Released => (0, String::new()),
        };
        serde_json::json!([self.id, self.owner, num, txt])
    }
}

pub struct NewOutbox<'a> {
    pub dedupe_key: &'a str,
    pub list_id: i64,
    pub member_id: Option<i64>,
    pub recipient: &'a str,
    pub kind: OutboxKind,
    pub ref_id: Option<i64>,
    pub payload: &'a str,
}

const INSERT: &str = "INSERT INTO outbox (dedupe_key, list_id, member_id, recipient, kind, ref_id, payload, status, next_attempt_at, retry_since, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', $8, $8, $8) ON CONFLICT (dedupe_key) DO NOTHING";
/// One copy of a post (or answer) for each active member in "every post"
/// mode but the two skipped (its author, and the asker who is told apart).
const EXPAND_EVERY_POST: &str = "INSERT INTO outbox (dedupe_key, list_id, member_id, recipient, kind, ref_id, payload, status, next_attempt_at, retry_since, created_at) \
     SELECT $2 || ':' || CAST($3 AS TEXT) || ':' || CAST(m.id AS TEXT), m.list_id, m.id, m.email, $2, $3, '{}', 'queued', $6, $6, $6 \
     FROM members m WHERE m.list_id = $1 AND m.status = 'active' AND m.mode = 'every' AND m.id <> $4 AND m.id <> $5 \
     ON CONFLICT (dedupe_key) DO NOTHING";
/// The database's clock in epoch milliseconds, the one clock every lease is
/// taken and compared with (workers' clocks may disagree). SQLite's `now`
/// is the same for a whole statement, whole milliseconds held as a
/// floating-point day: rounded, not truncated, or it would read a
/// millisecond early and a row queued this millisecond would not be due.
/// PostgreSQL's is read once per statement through a `clock` CTE or a
/// scalar subquery (an `InitPlan`, so the comparison can still use an
/// index). Rows are queued due at the queueing process's clock; a process
/// whose clock runs ahead of the database's delays its new rows by as much.
macro_rules! sqlite_now {
    () => {
        "CAST(ROUND((julianday('now') - 2440587.5) * 86400000) AS INTEGER)"
    };
}
macro_rules! pg_now {
    () => {
        "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
    };
}
/// The columns a claim returns.
macro_rules! claimed_columns {
    () => {
        "outbox.id, dedupe_key, list_id, member_id, recipient, kind, ref_id, payload, attempts, retry_since, created_at, lease_until"
    };
}
/// Takes up to `$3` due rows: due notices first (their own lane and index,
/// so a confirmation never waits behind the queued rest of a digest), then
/// due bulk mail, each read from the front of its partial index and
/// nothing more. `INDEXED BY` pins the plan, so no index added later (or
/// stale statistics) can turn it into a walk of every queued digest row to
/// find the notices (as the index on (status, next_attempt_at) did while
/// it existed). The lease ends `$2` ms after the database's now.
const CLAIM_SQLITE: &str = concat!(
    "UPDATE outbox SET status = 'sending', lease_owner = $1, lease_until = ",
    sqlite_now!(),
    " + $2, attempts = attempts + 1 \
     WHERE id IN (\
       SELECT id FROM (SELECT id FROM outbox INDEXED BY outbox_queued_notice \
         WHERE status = 'queued' AND kind = 'notice' AND next_attempt_at <= ",
    sqlite_now!(),
    " ORDER BY next_attempt_at, id LIMIT $3) \
       UNION ALL \
       SELECT id FROM (SELECT id FROM outbox INDEXED BY outbox_queued_bulk \
         WHERE status = 'queued' AND kind <> 'notice' AND next_attempt_at <= ",
    sqlite_now!(),
    " ORDER BY next_attempt_at, id LIMIT $3) \
       LIMIT $3) \
     RETURNING ",
    claimed_columns!(),
    ", ",
    sqlite_now!(),
    " AS db_now"
);
/// PostgreSQL: the same two lanes; `SKIP LOCKED` lets several workers
/// (and processes) claim disjoint batches without waiting on each other.
/// The lanes are read lazily, so the bulk lane locks only the rows the
/// batch still needs; the rows are then updated through `id = ANY(ARRAY(…))`,
/// one primary-key lookup each, never a join the planner could turn into a
/// walk of the whole table.
const CLAIM_POSTGRES: &str = concat!(
    "WITH clock AS MATERIALIZED (SELECT ",
    pg_now!(),
    " AS now_ms), \
     notices AS (SELECT id FROM outbox \
       WHERE status = 'queued' AND kind = 'notice' AND next_attempt_at <= (SELECT now_ms FROM clock) \
       ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED), \
     bulk AS (SELECT id FROM outbox \
       WHERE status = 'queued' AND kind <> 'notice' AND next_attempt_at <= (SELECT now_ms FROM clock) \
       ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) \
     UPDATE outbox SET status = 'sending', lease_owner = $1, lease_until = (SELECT now_ms FROM clock) + $2, \
       attempts = attempts + 1 \
     WHERE id = ANY (ARRAY(SELECT id FROM notices UNION ALL SELECT id FROM bulk LIMIT $3)) \
     RETURNING ",
    claimed_columns!(),
    ", (SELECT now_ms FROM clock) AS db_now"
);
/// Hands the rows of workers whose lease ended (they died, or lost the
/// database) back to the queue, by the database's clock. Separate from the
/// claim, so the claim reads only queued rows.
const SWEEP_SQLITE: &str = concat!(
    "UPDATE outbox INDEXED BY outbox_leased SET status = 'queued', lease_owner = NULL, lease_until = NULL \
     WHERE status = 'sending' AND lease_until < ",
    sqlite_now!()
);
const SWEEP_POSTGRES: &str = concat!(
    "UPDATE outbox SET status = 'queued', lease_owner = NULL, lease_until = NULL \
     WHERE status = 'sending' AND lease_until < (SELECT ",
    pg_now!(),
    ")"
);
/// Results are written a whole batch per statement: `$1` is a JSON array
/// of `[id, owner, number, text]`, one per row, read as a table `v`, so a
/// batch costs a handful of statements however many rows it holds (one
/// statement per row, on one connection, could not keep up with the
/// relay). Each statement joins on the primary key.
macro_rules! batch_sqlite {
    () => {
        " FROM (SELECT value ->> 0 AS id, value ->> 1 AS owner, value ->> 2 AS num, value ->> 3 AS txt FROM json_each($1)) AS v \
         WHERE outbox.id = v.id"
    };
}
macro_rules! batch_postgres {
    () => {
        " FROM (SELECT (e ->> 0)::bigint AS id, e ->> 1 AS owner, (e ->> 2)::bigint AS num, e ->> 3 AS txt \
         FROM json_array_elements(CAST($1 AS json)) AS e) AS v WHERE outbox.id = v.id"
    };
}
/// Which statements record each outcome, and the order they run in.
macro_rules! record_statements {
    ($batch:ident, $owned:literal) => {
        [
            // Recorded whoever holds the lease: the relay accepted it, so it is sent.
            concat!(
                "UPDATE outbox SET status = 'sent', sent_at = v.num, last_reply = v.txt, lease_owner = NULL, lease_until = NULL",
                $batch!(),
                " RETURNING outbox.id"
            ),
            concat!(
                "UPDATE outbox SET status = 'cancelled', last_reply = v.txt, lease_owner = NULL, lease_until = NULL",
                $batch!(),
                " RETURNING outbox.id"
            ),
            concat!(
                "UPDATE outbox SET status = 'failed', last_reply = v.txt, lease_owner = NULL, lease_until = NULL",
                $batch!(),
                $owned,
                " RETURNING outbox.id"
            ),
            concat!(
                "UPDATE outbox SET status = 'queued', next_attempt_at = v.num, last_reply = v.txt, lease_owner = NULL, lease_until = NULL",
                $batch!(),
                $owned,
                " RETURNING outbox.id"
            ),
            // Hands back rows a worker claimed but never started: not an attempt.
            concat!(
                "UPDATE outbox SET status = 'queued', attempts = outbox.attempts - 1, lease_owner = NULL, lease_until = NULL",
                $batch!(),
                $owned,
                " RETURNING outbox.id"
            ),
        ]
    };
}
const RECORD_SQLITE: [&str; 5] = record_statements!(
    batch_sqlite,
    " AND outbox.status = 'sending' AND outbox.lease_owner = v.owner"
);
const RECORD_POSTGRES: [&str; 5] = record_statements!(
    batch_postgres,
    " AND outbox.status = 'sending' AND outbox.lease_owner = v.owner"
);
/// The members of the rows `$1` leases, in one read for a whole batch
/// (rendering would otherwise read them one by one).
const MEMBERS_OF_LEASE: &str = "SELECT id, list_id, email, name, status, mode, bounce_score, requested_at, confirmed_at, consent FROM members \
     WHERE id IN (SELECT member_id FROM outbox WHERE status = 'sending' AND lease_owner = $1)";
const COUNT_BY_STATUS: &str =
    "SELECT kind, status, COUNT(*) AS n FROM outbox GROUP BY kind, status ORDER BY kind, status";
/// A requeued row gets a fresh retry window: measured from its creation, an
/// old row would fail for good at its next temporary error.
const RETRY_FAILED: &str = "UPDATE outbox SET status = 'queued', next_attempt_at = $1, retry_since = $1, attempts = 0 WHERE status = 'failed' AND ($2 = 0 OR id = $2)";
const SELECT_BY_ID: &str = "SELECT id, dedupe_key, list_id, member_id, recipient, kind, ref_id, payload, attempts, retry_since, created_at FROM outbox WHERE id = $1";
const SELECT_FAILED: &str = "SELECT id, recipient, kind, attempts, last_reply FROM outbox WHERE status = 'failed' ORDER BY id DESC LIMIT $1";
/// The front of each lane's partial index; the aggregate over both skips
/// an empty lane's NULL on either backend.
const NEXT_DUE: &str = "SELECT MIN(due) FROM (\
     SELECT MIN(next_attempt_at) AS due FROM outbox WHERE status = 'queued' AND kind = 'notice' \
     UNION ALL SELECT MIN(next_attempt_at) AS due FROM outbox WHERE status = 'queued' AND kind <> 'notice') AS lanes";

impl Store {
    pub async fn enqueue(&self, m: &NewOutbox<'_>) -> Result<bool> {
        let done = sqlx::query(INSERT)
            .bind(m.dedupe_key)
            .bind(m.list_id)
            .bind(m.member_id)
            .bind(m.recipient)
            .bind(m.kind.as_str())
            .bind(m.ref_id)
            .bind(m.payload)
            .bind(crate::now_ms())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Queues post or answer `ref_id` for the list's every-post members,
    /// except the members in `skip`; returns how many rows were new.
    pub async fn expand_every_post(
        &self,
        list_id: i64,
        kind: OutboxKind,
        ref_id: i64,
        skip: [i64; 2],
    ) -> Result<u64> {
        let done = sqlx::query(EXPAND_EVERY_POST)
            .bind(list_id)
            .bind(kind.as_str())
            .bind(ref_id)
            .bind(skip[0])
            .bind(skip[1])
            .bind(crate::now_ms())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Leases up to `limit` due rows to `owner` for `lease_ms`, counted on
    /// the database's clock: due notices first, then bulk mail.
    pub async fn claim(&self, owner: &str, lease_ms: i64, limit: i64) -> Result<Claim> {
        let rows = sqlx::query(self.pick(CLAIM_SQLITE, CLAIM_POSTGRES))
            .bind(owner)
            .bind(lease_ms)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        let mut claim = Claim {
            rows: Vec::with_capacity(rows.len()),
            lease_until: 0,
            db_now: 0,
        };
        for r in &rows {
            claim.rows.push(OutboxRow::from_row(r)?);
            claim.lease_until = col(r, "lease_until")?;
            claim.db_now = col(r, "db_now")?;
        }
        // RETURNING comes in no promised order (SQLite's is by id): the
        // notices go first within the batch too.
        claim.rows.sort_by_key(|r| r.kind != OutboxKind::Notice);
        Ok(claim)
    }

    /// The members of the rows `owner` leases now, by id.
    pub async fn members_leased_by(&self, owner: &str) -> Result<HashMap<i64, MemberRow>> {
        let rows = sqlx::query(MEMBERS_OF_LEASE)
            .bind(owner)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| MemberRow::from_row(r).map(|m| (m.id, m)))
            .collect()
    }

    /// Hands rows whose lease ended back to the queue; returns how many.
    pub async fn sweep_expired_leases(&self) -> Result<u64> {
        let done = sqlx::query(self.pick(SWEEP_SQLITE, SWEEP_POSTGRES))
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// The plans of the claim and of the sweep, as the database would run
    /// them now (`EXPLAIN QUERY PLAN` on SQLite, `EXPLAIN` on PostgreSQL),
    /// one line per plan node; nothing is executed.
    pub async fn explain_claim(&self) -> Result<(String, String)> {
        let explain = self.pick("EXPLAIN QUERY PLAN ", "EXPLAIN ");
        let claim = format!("{explain}{}", self.pick(CLAIM_SQLITE, CLAIM_POSTGRES));
        let sweep = format!("{explain}{}", self.pick(SWEEP_SQLITE, SWEEP_POSTGRES));
        let column = self.pick("detail", "QUERY PLAN");
        let claim = sqlx::query(sqlx::AssertSqlSafe(claim))
            .bind("explain")
            .bind(60_000i64)
            .bind(50i64)
            .fetch_all(self.pool())
            .await?;
        let sweep = sqlx::query(sqlx::AssertSqlSafe(sweep))
            .fetch_all(self.pool())
            .await?;
        let lines = |rows: &[AnyRow]| -> Result<String> {
            let lines: Vec<String> = rows.iter().map(|r| col(r, column)).collect::<Result<_>>()?;
            Ok(lines.join("\n"))
        };
        Ok((lines(&claim)?, lines(&sweep)?))
    }

    /// Records what became of several deliveries in one transaction (one
    /// commit, one turn of SQLite's write lock, for a whole batch). Each
    /// outcome but `Sent` changes its row only while `owner` still leases
    /// it; `Sent` is recorded whoever holds the lease, because the relay
    /// accepted the message. Returns, per outcome, whether it changed its
    /// row. A failure records none of them.
    pub async fn record_outcomes(&self, outcomes: &[Recorded]) -> Result<Vec<bool>> {
        let statements = match self.backend() {
            super::Backend::Sqlite => RECORD_SQLITE,
            super::Backend::Postgres => RECORD_POSTGRES,
        };
        let mut tx = self.begin_write().await?;
        let mut applied = vec![false; outcomes.len()];
        for (n, sql) in statements.into_iter().enumerate() {
            let mine: Vec<usize> = (0..outcomes.len())
                .filter(|&i| outcomes[i].outcome.statement() == n)
                .collect();
            if mine.is_empty() {
                continue;
            }
            let batch: Vec<serde_json::Value> =
                mine.iter().map(|&i| outcomes[i].as_json()).collect();
            let json = serde_json::Value::Array(batch).to_string();
            let changed: std::collections::HashSet<i64> = sqlx::query_scalar(sql)
                .bind(json)
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .collect();
            for i in mine {
                applied[i] = changed.contains(&outcomes[i].id);
            }
        }
        tx.commit().await?;
        Ok(applied)
    }

    async fn record_one(&self, id: i64, owner: &str, outcome: Outcome) -> Result<()> {
        let one = Recorded {
            id,
            owner: owner.to_string(),
            outcome,
        };
        self.record_outcomes(std::slice::from_ref(&one)).await?;
        Ok(())
    }

    pub async fn mark_sent(&self, id: i64, reply: &str) -> Result<()> {
        let at = crate::now_ms();
        let reply = reply.to_string();
        self.record_one(id, "", Outcome::Sent { reply, at }).await
    }

    pub async fn mark_retry(&self, id: i64, owner: &str, next_at: i64, reply: &str) -> Result<()> {
        let reply = reply.to_string();
        self.record_one(id, owner, Outcome::Retry { next_at, reply })
            .await
    }

    pub async fn mark_failed(&self, id: i64, owner: &str, reply: &str) -> Result<()> {
        let reply = reply.to_string();
        self.record_one(id, owner, Outcome::Failed { reply }).await
    }

    pub async fn release(&self, id: i64, owner: &str) -> Result<()> {
        self.record_one(id, owner, Outcome::Released).await
    }

    /// (kind, status, count) for every combination present.
    pub async fn outbox_counts(&self) -> Result<Vec<(OutboxKind, OutboxStatus, i64)>> {
        let rows = sqlx::query(COUNT_BY_STATUS).fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| Ok((state(r, "kind")?, state(r, "status")?, col(r, "n")?)))
            .collect()
    }

    /// Requeues failed rows (all when `id` is 0) with a new retry window;
    /// returns how many.
    pub async fn retry_failed(&self, id: i64) -> Result<u64> {
        let done = sqlx::query(RETRY_FAILED)
            .bind(crate::now_ms())
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    pub async fn outbox_row(&self, id: i64) -> Result<Option<OutboxRow>> {
        let row = sqlx::query(SELECT_BY_ID)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(OutboxRow::from_row).transpose()
    }

    /// (id, recipient, kind, attempts, last reply) of recent failures.
    pub async fn failed_outbox(
        &self,
        limit: i64,
    ) -> Result<Vec<(i64, String, OutboxKind, i64, String)>> {
        let rows = sqlx::query(SELECT_FAILED)
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    col(r, "id")?,
                    col(r, "recipient")?,
                    state(r, "kind")?,
                    col(r, "attempts")?,
                    col(r, "last_reply")?,
                ))
            })
            .collect()
    }

    pub async fn next_due(&self) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(NEXT_DUE).fetch_one(self.pool()).await?)
    }
}
