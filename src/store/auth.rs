//! Who sent each inbound message (`inbound_auth`): the verdict of sender
//! authentication, kept so that a message handled again later (after a
//! crash or a temporary failure) is judged as it was when it arrived.

use super::{col, text, Result, Store};
use crate::inbound::auth::Authentication;

const INSERT_AUTH: &str =
    "INSERT INTO inbound_auth (inbound_id, verdict, method, domain, source, detail, checked_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (inbound_id) DO NOTHING";
const SELECT_AUTH: &str =
    "SELECT verdict, method, domain, source, detail FROM inbound_auth WHERE inbound_id = $1";

impl Store {
    /// Records the verdict on inbound message `id`, unless one is recorded.
    pub async fn insert_inbound_auth(&self, id: i64, a: &Authentication) -> Result<()> {
        let (verdict, method, domain, source, detail) = a.to_row();
        sqlx::query(INSERT_AUTH)
            .bind(id)
            .bind(verdict)
            .bind(method)
            .bind(text(domain))
            .bind(text(source))
            .bind(text(detail))
            .bind(crate::now_ms())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The recorded verdict on inbound message `id`.
    pub async fn inbound_auth(&self, id: i64) -> Result<Option<Authentication>> {
        let Some(r) = sqlx::query(SELECT_AUTH)
            .bind(id)
            .fetch_optional(self.pool())
            .await?
        else {
            return Ok(None);
        };
        let (verdict, method, domain, source, detail): (String, String, String, String, String) = (
            col(&r, "verdict")?,
            col(&r, "method")?,
            col(&r, "domain")?,
            col(&r, "source")?,
            col(&r, "detail")?,
        );
        Authentication::from_row(&verdict, &method, &domain, &source, &detail)
            .map(Some)
            .ok_or_else(|| {
                super::StoreError::Corrupt(format!(
                    "inbound_auth.verdict of message {id}: {verdict:?} is not pass, fail or unchecked"
                ))
            })
    }
}
