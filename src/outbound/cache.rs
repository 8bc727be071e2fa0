//! What rendering reads again for every recipient while a digest goes out:
//! the frozen issue, which never changes once sent, and the list's
//! settings, re-read every few seconds so an edit shows up promptly; and
//! each issue rendered once with gaps for each member's own parts
//! ([`DigestParts`]).
//! Members are always read fresh: one who left mid-send must not get it.

use crate::digest::Issue;
use crate::outbound::render::DigestParts;
use crate::store::digests::DigestRow;
use crate::store::lists::ListRow;
use crate::store::DigestStatus;
use crate::store::{Result, Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a list's settings are trusted before they are read again.
const LIST_TTL: Duration = Duration::from_secs(5);
/// Issues kept at once; more than one list can be sending.
const MAX_ISSUES: usize = 16;

#[derive(Default)]
pub struct RenderCache {
    issues: Mutex<HashMap<i64, Arc<(DigestRow, Issue)>>>,
    lists: Mutex<HashMap<i64, (Instant, ListRow)>>,
    digest_parts: Mutex<HashMap<i64, Arc<DigestParts>>>,
}

impl RenderCache {
    /// A sent issue with its parsed content; `None` if it does not exist.
    pub async fn issue(&self, store: &Store, id: i64) -> Result<Option<Arc<(DigestRow, Issue)>>> {
        if let Some(hit) = self.issues.lock().unwrap().get(&id) {
            return Ok(Some(hit.clone()));
        }
        let Some(d) = store.digest(id).await? else {
            return Ok(None);
        };
        let issue = Issue::of(&d).map_err(|e| StoreError::Corrupt(format!("{e:#}")))?;
        let sent = d.status == DigestStatus::Sent;
        let entry = Arc::new((d, issue));
        if sent {
            let mut issues = self.issues.lock().unwrap();
            if issues.len() >= MAX_ISSUES {
                issues.clear();
            }
            issues.insert(id, entry.clone());
        }
        Ok(Some(entry))
    }

    /// Issue `id` as last prepared, if it was; the caller checks that it
    /// still fits the issue and the list.
    pub fn digest_parts(&self, id: i64) -> Option<Arc<DigestParts>> {
        self.digest_parts.lock().unwrap().get(&id).cloned()
    }

    pub fn keep_digest_parts(&self, id: i64, parts: Arc<DigestParts>) {
        let mut all = self.digest_parts.lock().unwrap();
        if all.len() >= MAX_ISSUES {
            all.clear();
        }
        all.insert(id, parts);
    }

    /// A list's settings, at most [`LIST_TTL`] old.
    pub async fn list(&self, store: &Store, id: i64) -> Result<Option<ListRow>> {
        if let Some((at, row)) = self.lists.lock().unwrap().get(&id) {
            if at.elapsed() < LIST_TTL {
                return Ok(Some(row.clone()));
            }
        }
        let row = store.list_by_id(id).await?;
        if let Some(r) = &row {
            self.lists
                .lock()
                .unwrap()
                .insert(id, (Instant::now(), r.clone()));
        }
        Ok(row)
    }
}
