//! The command-line interface: one function per command, each calling the
//! same domain functions the web and mail paths use. The argument
//! definitions live in [`args`].

mod args;
mod digest;
mod explain;
mod ingest;
mod inspect;
mod lists;
mod members;

pub use args::*;
pub use explain::inspect;

use crate::app::{Ctx, List};
use crate::config::Config;
use crate::digest::schedule::parse_timezone;

/// Runs one command; returns the process exit code.
pub async fn run(cli: Cli, config: Config) -> anyhow::Result<i32> {
    match cli.command {
        Cmd::Serve => crate::serve::serve(config).await.map(|_| 0),
        Cmd::Migrate => migrate(config).await,
        Cmd::Ingest(args) => ingest::ingest(config, args).await,
        // Only a new list may start a new database; every other command
        // says where it looked when there is none.
        Cmd::List(c @ ListCmd::Create { .. }) => lists::run(&Ctx::open(config).await?, c).await,
        Cmd::List(c) => lists::run(&Ctx::open_existing(config).await?, c).await,
        Cmd::Member(c) => members::run(&Ctx::open_existing(config).await?, c).await,
        Cmd::Editor(c) => members::editor(&Ctx::open_existing(config).await?, c).await,
        Cmd::Digest(c) => digest::run(&Ctx::open_existing(config).await?, c).await,
        Cmd::Outbox(c) => inspect::outbox(&Ctx::open_existing(config).await?, c).await,
        Cmd::Inbound(c) => inspect::inbound(&Ctx::open_existing(config).await?, c).await,
        Cmd::Inspect(args) => Ok(explain::inspect(&args)),
    }
}

async fn migrate(config: Config) -> anyhow::Result<i32> {
    let store = crate::store::Store::connect(config.database_url.expose()).await?;
    let applied = store.migrate().await?;
    if applied.is_empty() {
        println!("database is up to date");
    }
    for m in applied {
        println!("applied {m}");
    }
    Ok(0)
}

async fn resolve_list(ctx: &Ctx, arg: &ListArg) -> anyhow::Result<List> {
    crate::lists::resolve(ctx, arg.list.as_deref()).await
}

/// A stored time in the list's time zone, for people.
fn fmt_time(ms: Option<i64>, tz: &str) -> String {
    use chrono::TimeZone;
    let Some(ms) = ms else { return "-".into() };
    let tz = parse_timezone(tz).unwrap_or(chrono_tz::UTC);
    match tz.timestamp_millis_opt(ms).single() {
        Some(t) => t.format("%Y-%m-%d %H:%M %Z").to_string(),
        None => ms.to_string(),
    }
}
