//! Editors and how they sign in: editors of one list or of every list
//! (admins), one-time sign-in links mailed to them (signed, single use,
//! [`LINK_VALID_MS`]), the sign-in throttle, and the sessions shared by
//! every gazette process through the database.

use crate::app::{Ctx, List};
use crate::email::EmailAddress;
use crate::notices::{self, Notice};
use crate::tokens::{sha256_hex, Purpose};

/// How long a mailed sign-in link works.
pub const LINK_VALID_MS: i64 = 15 * 60 * 1000;
/// How long a session lasts.
pub const SESSION_MS: i64 = 14 * 24 * 3600 * 1000;
/// The throttle's window and its caps: sign-in requests per address, and
/// per client (IPv4 address or IPv6 /64).
pub const THROTTLE_WINDOW_MS: i64 = 15 * 60 * 1000;
pub const PER_ADDRESS: i64 = 5;
pub const PER_CLIENT: i64 = 20;

/// Someone signed in: who, and which lists they may see and change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Editor {
    pub email: String,
    pub key: String,
    /// An editor of every list.
    pub admin: bool,
    /// The lists they edit (every list, for an admin).
    pub lists: Vec<i64>,
    /// The token every form of this session carries.
    pub form_token: String,
    /// SHA-256 of the session cookie (to sign out).
    pub session: String,
}

impl Editor {
    pub fn edits(&self, list_id: i64) -> bool {
        self.admin || self.lists.contains(&list_id)
    }
}

/// Adds `email` as an editor of `list`, or of every list (`None`).
pub async fn add(ctx: &Ctx, email: &EmailAddress, list: Option<&List>) -> anyhow::Result<()> {
    match list {
        Some(l) => crate::lists::add_editor(ctx, l, email).await,
        None => Ok(ctx.store.add_admin(email.as_str(), &email.key()).await?),
    }
}

/// Removes `email` as an editor of `list` (or of every list and as an
/// admin, `None`) and signs them out. False when they were none.
pub async fn remove(ctx: &Ctx, email: &EmailAddress, list: Option<&List>) -> anyhow::Result<bool> {
    let n = ctx
        .store
        .remove_editor(&email.key(), list.map_or(0, List::id))
        .await?;
    ctx.store.delete_sessions_of(&email.key()).await?;
    Ok(n > 0)
}

/// (list address or "every list", editor address), sorted.
pub async fn all(ctx: &Ctx) -> anyhow::Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = ctx
        .store
        .admins()
        .await?
        .into_iter()
        .map(|e| ("every list".to_string(), e))
        .collect();
    out.extend(ctx.store.all_editors().await?);
    Ok(out)
}

/// Which lists `key` edits, and whether every one; `None` when none.
async fn rights(ctx: &Ctx, key: &str) -> anyhow::Result<Option<(bool, Vec<i64>)>> {
    if ctx.store.is_admin(key).await? {
        let all = ctx.store.lists().await?.iter().map(|l| l.id).collect();
        return Ok(Some((true, all)));
    }
    let lists = ctx.store.editor_lists(key).await?;
    Ok((!lists.is_empty()).then_some((false, lists)))
}

/// A new one-time sign-in link for `email`, if they are an editor.
pub async fn link(ctx: &Ctx, email: &EmailAddress) -> anyhow::Result<Option<(i64, String)>> {
    if rights(ctx, &email.key()).await?.is_none() {
        return Ok(None);
    }
    let nonce = i64::from(rand::random::<u32>());
    let id = ctx
        .store
        .insert_sign_in_link(
            email.as_str(),
            &email.key(),
            nonce,
            crate::now_ms() + LINK_VALID_MS,
        )
        .await?;
    Ok(Some((id, link_url(ctx, id, nonce))))
}

/// The URL of sign-in link `id`.
pub fn link_url(ctx: &Ctx, id: i64, nonce: i64) -> String {
    format!(
        "{}/admin/sign-in/{}",
        ctx.config.base_url,
        ctx.keys.sign(Purpose::SignIn, &[id, nonce])
    )
}

/// What asking for a sign-in link did. The page says the same thing for
/// `Sent` and `NotEditor`, so it tells nobody who the editors are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requested {
    Sent,
    NotEditor,
    /// Too many requests for this address or from this client lately.
    Throttled,
}

/// An editor asks for a sign-in link by mail, from `client`.
pub async fn request_link(
    ctx: &Ctx,
    email: &EmailAddress,
    client: &str,
) -> anyhow::Result<Requested> {
    let since = crate::now_ms() - THROTTLE_WINDOW_MS;
    ctx.store.forget_old_access(since).await?;
    let by_client = ctx
        .store
        .count_sign_in_attempt(&format!("ip:{client}"), since)
        .await?;
    let by_address = ctx
        .store
        .count_sign_in_attempt(&format!("addr:{}", email.key()), since)
        .await?;
    if by_client > PER_CLIENT || by_address > PER_ADDRESS {
        tracing::info!(client, "sign-in requests throttled");
        return Ok(Requested::Throttled);
    }
    let Some((id, _)) = link(ctx, email).await? else {
        return Ok(Requested::NotEditor);
    };
    // The mail goes out in the name of a list they edit.
    let (_, lists) = rights(ctx, &email.key()).await?.unwrap_or_default();
    let first = match lists.first() {
        Some(&l) => ctx.store.list_by_id(l).await?,
        None => None,
    };
    let Some(row) = first else {
        tracing::warn!("an admin asked for a sign-in link, but there is no list to send it from; use `gazette editor link`");
        return Ok(Requested::Sent);
    };
    let list = ctx.list(row);
    notices::send(
        ctx,
        &list,
        email.as_str(),
        None,
        &Notice::SignIn { link_id: id },
        &format!("sign-in:{id}"),
    )
    .await?;
    Ok(Requested::Sent)
}

/// Where a sign-in link stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// Usable, by this address.
    Valid(String),
    Used,
    Expired,
    /// Not ours, or mangled.
    Invalid,
}

/// Looks at a sign-in link without using it (the page with the button).
pub async fn check_link(ctx: &Ctx, token: &str) -> anyhow::Result<LinkState> {
    let Some(ids) = ctx.keys.verify(Purpose::SignIn, token, 2) else {
        return Ok(LinkState::Invalid);
    };
    let Some(link) = ctx.store.sign_in_link(ids[0]).await? else {
        return Ok(LinkState::Invalid);
    };
    if link.nonce != ids[1] {
        return Ok(LinkState::Invalid);
    }
    Ok(if link.used_at.is_some() {
        LinkState::Used
    } else if link.expires_at <= crate::now_ms() {
        LinkState::Expired
    } else {
        LinkState::Valid(link.email)
    })
}

/// Uses a sign-in link: a new session, as (cookie value, editor). `Err`
/// with the link's state when it cannot be used.
pub async fn sign_in(
    ctx: &Ctx,
    token: &str,
) -> anyhow::Result<Result<(String, Editor), LinkState>> {
    let state = check_link(ctx, token).await?;
    let LinkState::Valid(_) = state else {
        return Ok(Err(state));
    };
    let ids = ctx
        .keys
        .verify(Purpose::SignIn, token, 2)
        .expect("checked above");
    if !ctx.store.use_sign_in_link(ids[0]).await? {
        return Ok(Err(LinkState::Used));
    }
    let link = ctx
        .store
        .sign_in_link(ids[0])
        .await?
        .ok_or_else(|| anyhow::anyhow!("sign-in link {} vanished", ids[0]))?;
    let cookie = random_hex(32);
    let form_token = random_hex(16);
    ctx.store
        .insert_session(
            &sha256_hex(cookie.as_bytes()),
            &link.email,
            &link.email_key,
            &form_token,
            crate::now_ms() + SESSION_MS,
        )
        .await?;
    match session(ctx, &cookie).await? {
        Some(editor) => Ok(Ok((cookie, editor))),
        // Removed as an editor between the link and now.
        None => Ok(Err(LinkState::Invalid)),
    }
}

/// The editor a session cookie belongs to, if it is current and they
/// still edit a list.
pub async fn session(ctx: &Ctx, cookie: &str) -> anyhow::Result<Option<Editor>> {
    let hash = sha256_hex(cookie.as_bytes());
    let Some(s) = ctx.store.session(&hash).await? else {
        return Ok(None);
    };
    let Some((admin, lists)) = rights(ctx, &s.email_key).await? else {
        return Ok(None);
    };
    Ok(Some(Editor {
        email: s.email,
        key: s.email_key,
        admin,
        lists,
        form_token: s.form_token,
        session: hash,
    }))
}

pub async fn sign_out(ctx: &Ctx, editor: &Editor) -> anyhow::Result<()> {
    Ok(ctx.store.delete_session(&editor.session).await?)
}

fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}
