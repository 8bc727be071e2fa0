//! Where the token key comes from. Whoever holds it can forge reply,
//! confirm and unsubscribe addresses, so it is kept apart from the data:
//!
//! - `GAZETTE_SECRET`, when set (at least 32 bytes: see
//!   [`crate::config::MIN_SECRET_BYTES`]), on every backend;
//! - on SQLite, otherwise, a generated key in a 0600 file beside the
//!   database (`<database>.secret`), so a copy of the database alone
//!   cannot forge anything. A key that earlier versions kept in the
//!   database's `settings` table moves into that file (and out of the
//!   table), so every address already sent keeps working;
//! - on PostgreSQL, otherwise, the key stored in the database (several
//!   processes on several machines must share it), with a warning at
//!   every start that anyone who can read the database or a backup can
//!   forge tokens.

use crate::config::{Config, MIN_SECRET_BYTES};
use crate::store::Store;
use crate::tokens::TokenKey;
use anyhow::Context;
use std::path::{Path, PathBuf};

/// The key for `config`'s database, and warnings for the operator.
pub async fn load(config: &Config, store: &Store) -> anyhow::Result<(TokenKey, Vec<String>)> {
    let configured = config.secret.expose();
    if !configured.is_empty() {
        return Ok((TokenKey::new(configured.as_bytes()), Vec::new()));
    }
    match crate::files::sqlite_file(config.database_url.expose()) {
        Some(db) => {
            let file = key_file(&db);
            let (secret, warnings) = from_file(&file, store).await?;
            Ok((TokenKey::new(secret.as_bytes()), warnings))
        }
        None => {
            let secret = store.token_secret().await?;
            let warnings = match store.backend() {
                crate::store::Backend::Postgres => vec![format!(
                    "GAZETTE_SECRET is not set, so the token key is kept in the database: anyone who can read the database or a backup of it can forge reply, confirm and unsubscribe addresses. Set GAZETTE_SECRET in every gazette process; to keep the addresses already sent working, use the stored key: {}",
                    "SELECT value FROM settings WHERE key = 'token_secret'"
                )],
                // In memory: the key lives and dies with the data.
                crate::store::Backend::Sqlite => Vec::new(),
            };
            Ok((TokenKey::new(secret.as_bytes()), warnings))
        }
    }
}

/// `gazette.db` → `gazette.db.secret`.
pub fn key_file(db: &Path) -> PathBuf {
    crate::files::sibling(db, ".secret")
}

/// Reads the key file, making it first when missing: from the key an
/// earlier version stored in the database, or a new one. The stored copy
/// is deleted once the file holds it.
async fn from_file(file: &Path, store: &Store) -> anyhow::Result<(String, Vec<String>)> {
    let mut warnings = Vec::new();
    if !file.exists() {
        let secret = match store.stored_token_secret().await? {
            Some(old) => old,
            None => fresh(),
        };
        // Another process may have made it meanwhile: then theirs is used.
        crate::files::write_new_private(file, format!("{secret}\n").as_bytes()).with_context(
            || {
                format!(
                    "cannot write the token key file {}; make its directory writable, or set GAZETTE_SECRET",
                    file.display()
                )
            },
        )?;
    }
    let secret = std::fs::read_to_string(file)
        .with_context(|| {
            format!(
                "cannot read the token key file {}; check its permissions, or set GAZETTE_SECRET",
                file.display()
            )
        })?
        .trim()
        .to_string();
    if secret.len() < MIN_SECRET_BYTES {
        anyhow::bail!(
            "the token key file {} holds {} bytes; at least {MIN_SECRET_BYTES} are needed. Restore it from a backup (every address already sent depends on it), or delete it to make a new one",
            file.display(),
            secret.len()
        );
    }
    store.forget_token_secret().await?;
    warnings.extend(crate::files::readable_by_others(file, "the token key file"));
    Ok((secret, warnings))
}

/// A new key: 32 random bytes as hex.
fn fresh() -> String {
    (0..32)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}
