//! Outgoing mail, as a pipeline of clear stages:
//! outbox (claim due rows with a lease) → render (per recipient) →
//! compose (MIME with list headers) → DKIM-sign → transport (one envelope
//! per recipient) → record (sent, retry with backoff, or failed; written in
//! batches).

pub mod cache;
pub mod compose;
pub mod dkim;
pub mod record;
pub mod render;
pub mod text;
pub mod transport;
pub mod views;
pub mod worker;

/// Queues failed mail again with a fresh retry window: one message by its
/// outbox id, or every failed one (`None`). Returns how many.
pub async fn requeue(ctx: &crate::app::Ctx, id: Option<i64>) -> anyhow::Result<u64> {
    let n = ctx.store.retry_failed(id.unwrap_or(0)).await?;
    if let (Some(id), 0) = (id, n) {
        match ctx.store.outbox_row(id).await? {
            None => anyhow::bail!(
                "there is no outbox message #{id}; `gazette outbox status` lists the failed ones"
            ),
            Some(_) => anyhow::bail!(
                "outbox message #{id} has not failed; only failed messages can be queued again"
            ),
        }
    }
    ctx.outbox_wake.notify_waiters();
    Ok(n)
}
