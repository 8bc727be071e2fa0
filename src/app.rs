//! The application context every domain function receives, and `serve`,
//! which runs the whole system in one process: HTTP, the inbound SMTP/LMTP
//! listener, the digest scheduler and the delivery workers.

use crate::address::{Command, ListAddress};
use crate::config::{Config, SenderAuthMode};
use crate::inbound::auth::SenderAuth;
use crate::outbound::dkim::Dkim;
use crate::store::lists::ListRow;
use crate::store::{Open, Store};
use crate::tokens::{Purpose, TokenKey};
use std::sync::Arc;
use tokio::sync::Notify;

/// Shared state: cheap to clone.
#[derive(Clone)]
pub struct Ctx {
    pub store: Store,
    pub config: Arc<Config>,
    pub keys: TokenKey,
    /// Poked when new rows enter the outbox so idle workers start at once.
    pub outbox_wake: Arc<Notify>,
    /// Frozen issues and list settings, shared by the delivery workers.
    pub render_cache: Arc<crate::outbound::cache::RenderCache>,
    /// The DKIM key every outgoing message is signed with; `None` when
    /// `GAZETTE_DKIM_KEY` is empty.
    pub dkim: Option<Arc<Dkim>>,
    /// DNS for checking the senders of inbound mail; `None` when
    /// `GAZETTE_SENDER_AUTH=off`.
    pub sender_auth: Option<Arc<SenderAuth>>,
}

impl Ctx {
    /// Loads the DKIM key, connects to the database (creating a SQLite one
    /// that is not there yet), applies migrations and loads the token key.
    pub async fn open(config: Config) -> anyhow::Result<Ctx> {
        Ctx::open_with(config, Open::CreateIfMissing).await
    }

    /// [`Ctx::open`] for commands that work on an existing installation:
    /// a missing SQLite database is an error saying where it was looked for.
    pub async fn open_existing(config: Config) -> anyhow::Result<Ctx> {
        Ctx::open_with(config, Open::Existing).await
    }

    async fn open_with(config: Config, open: Open) -> anyhow::Result<Ctx> {
        // First, so an unusable key stops start-up before anything else.
        let dkim = match &config.dkim {
            Some(settings) => {
                let dkim = Dkim::load(settings)?;
                tracing::info!(
                    selector = dkim.selector(),
                    domain = dkim.fixed_domain().unwrap_or("each list's own"),
                    "DKIM signing on; publish this TXT record at <selector>._domainkey.<domain>, where receivers look for it: {}",
                    dkim.dns_record()
                );
                Some(Arc::new(dkim))
            }
            None => {
                tracing::info!("DKIM signing off (GAZETTE_DKIM_KEY is empty); large receivers such as Gmail refuse or junk unsigned bulk mail");
                None
            }
        };
        // Without DNS, mail is judged as with GAZETTE_SENDER_AUTH=off
        // (the envelope must match From), and every start says so.
        let sender_auth = match config.sender_auth {
            SenderAuthMode::Dns => match SenderAuth::from_system() {
                Ok(auth) => Some(Arc::new(auth)),
                Err(e) => {
                    tracing::warn!("{e:#}");
                    None
                }
            },
            SenderAuthMode::Off => None,
        };
        let store = Store::open(config.database_url.expose(), open).await?;
        store.migrate().await?;
        check_separator(&store, config.separator).await?;
        let (keys, warnings) = crate::token_secret::load(&config, &store).await?;
        for w in warnings {
            tracing::warn!("{w}");
        }
        Ok(Ctx {
            store,
            keys,
            config: Arc::new(config),
            outbox_wake: Arc::new(Notify::new()),
            render_cache: Arc::default(),
            dkim,
            sender_auth,
        })
    }

    pub fn list(&self, row: ListRow) -> List {
        let address = ListAddress::stored(&row.address, self.config.separator);
        List {
            row,
            address,
            base_url: self.config.base_url.clone(),
        }
    }

    /// The list a recipient address belongs to, with the command it names.
    /// A bare `postmaster` (RFC 5321 4.5.1 requires accepting it) belongs
    /// to the first list.
    pub async fn route(&self, recipient: &str) -> crate::store::Result<Option<(List, Command)>> {
        let bare = recipient.trim().trim_matches(['<', '>']);
        if bare.eq_ignore_ascii_case("postmaster") {
            let first = self.store.lists().await?.into_iter().next();
            return Ok(first.map(|row| (self.list(row), Command::Operator("postmaster".into()))));
        }
        for row in self.store.lists().await? {
            let list = self.list(row);
            if let Some(cmd) = list.address.route(recipient) {
                return Ok(Some((list, cmd)));
            }
        }
        Ok(None)
    }

    /// Whether the token a command carries (reply, confirm, bounce) was
    /// made by us, checked the way acting on it checks it; commands without
    /// a token pass. A `false` here is a forged, truncated or mangled
    /// address, refused before the message is read.
    pub fn token_verifies(&self, command: &Command) -> bool {
        // Expired reply tokens verify here: their late reply is received
        // and its author sent a fresh address (inbound::act).
        let (purpose, token, ids) = match command {
            Command::Reply(t) => return self.keys.verify_reply(t).is_some(),
            Command::Confirm(t) => (Purpose::Confirm, t, 2),
            Command::Bounce(t) => (Purpose::Bounce, t, 1),
            Command::Approve(t) => (Purpose::Approve, t, 1),
            Command::Reject(t) => (Purpose::Reject, t, 1),
            _ => return true,
        };
        self.keys.verify(purpose, token, ids).is_some()
    }

    pub async fn list_by_address(&self, address: &str) -> anyhow::Result<List> {
        let key = address.trim().to_ascii_lowercase();
        match self.store.list_by_address(&key).await? {
            Some(row) => Ok(self.list(row)),
            None => anyhow::bail!(
                "there is no list {address}; `gazette list show` lists them, `gazette list create` makes one"
            ),
        }
    }
}

/// Every list's address must still split cleanly with the configured
/// sub-address separator: `pm-circle@…` with `GAZETTE_SEPARATOR=-` would
/// route `pm-circle-subscribe@` to nothing.
async fn check_separator(store: &Store, separator: char) -> anyhow::Result<()> {
    for row in store.lists().await? {
        if ListAddress::parse(&row.address, separator).is_err() {
            return Err(crate::config::ConfigError {
                setting: "GAZETTE_SEPARATOR".into(),
                value: separator.to_string(),
                why: format!(
                    "the list {} contains it, so its command and reply addresses could not be told apart",
                    row.address
                ),
                fix: "Keep the separator the list was created with (+ by default), or use one the list addresses do not contain.".into(),
            }
            .into());
        }
    }
    Ok(())
}

/// A list with the addresses and links derived from it.
#[derive(Debug, Clone)]
pub struct List {
    pub row: ListRow,
    pub address: ListAddress,
    base_url: String,
}

impl List {
    pub fn id(&self) -> i64 {
        self.row.id
    }
    pub fn name(&self) -> &str {
        &self.row.name
    }
    pub fn posting(&self) -> String {
        self.address.posting()
    }
    pub fn command(&self, c: &Command) -> String {
        self.address.for_command(c)
    }
    /// `List-Id` header value.
    pub fn list_id_header(&self) -> String {
        format!(
            "{} <{}>",
            self.row.name.replace(['<', '>', '"'], ""),
            self.address.list_id()
        )
    }
    /// The address `member_id` answers `question_id` at; it says when it
    /// was made (`issued_ms`: the delivery's creation, so a retry is the
    /// same message) and expires `GAZETTE_REPLY_TOKEN_DAYS` later.
    pub fn reply_address(
        &self,
        keys: &TokenKey,
        question_id: i64,
        member_id: i64,
        issued_ms: i64,
    ) -> String {
        self.command(&Command::Reply(keys.sign_reply(
            question_id,
            member_id,
            issued_ms,
        )))
    }
    /// The Message-ID of the delivery `outbox_id`: `<KIND.ID.TAG@domain>`.
    /// The tag is a MAC, so the id is unique to this installation and a
    /// report that quotes it proves it is about mail we sent; the same row
    /// always gets the same id, so a retry is the same message.
    pub fn message_id(&self, keys: &TokenKey, kind: &str, outbox_id: i64) -> String {
        format!(
            "<{kind}.{outbox_id}.{}@{}>",
            keys.sign(Purpose::MessageId, &[outbox_id]),
            self.address.domain()
        )
    }

    pub fn bounce_address(&self, keys: &TokenKey, outbox_id: i64) -> String {
        self.command(&Command::Bounce(keys.sign(Purpose::Bounce, &[outbox_id])))
    }
    /// The confirm address for subscription request `requested_at` of
    /// member `member_id`: bound to that request, so the link of an older
    /// request cannot confirm a newer one.
    pub fn confirm_address(&self, keys: &TokenKey, member_id: i64, requested_at: i64) -> String {
        self.command(&Command::Confirm(
            keys.sign(Purpose::Confirm, &[member_id, requested_at]),
        ))
    }
    pub fn confirm_url(&self, keys: &TokenKey, member_id: i64, requested_at: i64) -> String {
        format!(
            "{}/confirm/{}",
            self.base_url,
            keys.sign(Purpose::Confirm, &[member_id, requested_at])
        )
    }
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
    pub fn unsubscribe_url(&self, keys: &TokenKey, member_id: i64) -> String {
        format!(
            "{}/unsubscribe/{}",
            self.base_url,
            keys.sign(Purpose::Unsubscribe, &[member_id])
        )
    }
}
