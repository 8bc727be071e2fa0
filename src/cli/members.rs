//! `gazette member add|import|export|remove` and `gazette editor add`.

use super::{resolve_list, EditorCmd, MemberCmd};
use crate::app::Ctx;
use crate::email::EmailAddress;
use crate::membership::csv::ImportOptions;
use crate::membership::{self, Enrolled, Removed};
use crate::store::members::MemberFilter;
use crate::store::{MemberStatus, StoredEnum};
use std::io::Read;

/// What `members.consent` says of someone added with `gazette member add`.
const CONSENT_CLI_ADD: &str = "added by an operator with `gazette member add`";

pub(super) async fn run(ctx: &Ctx, c: MemberCmd) -> anyhow::Result<i32> {
    match c {
        MemberCmd::Add {
            list,
            emails,
            name,
            mode,
            resubscribe,
        } => {
            let list = resolve_list(ctx, &list).await?;
            let mut skipped = 0;
            for e in emails {
                let email = EmailAddress::parse(&e)?;
                let how = membership::Enrollment {
                    name: &name,
                    mode: mode.as_deref().map(membership::parse_mode).transpose()?,
                    resubscribe,
                    consent: CONSENT_CLI_ADD,
                };
                match membership::enroll(ctx, &list, &email, &how).await? {
                    Enrolled::Added(m) => println!("{} is an active member ({})", m.email, m.mode),
                    Enrolled::Updated(m) => {
                        println!("{} was already a member ({})", m.email, m.mode)
                    }
                    Enrolled::Skipped(m) => {
                        skipped += 1;
                        eprintln!(
                            "{} is {}; not added back (pass --resubscribe if they asked to return)",
                            m.email, m.status
                        );
                    }
                }
            }
            if skipped > 0 {
                return Ok(1);
            }
        }
        MemberCmd::Import {
            list,
            file,
            resubscribe,
            confirmed,
        } => {
            let list = resolve_list(ctx, &list).await?;
            let options = ImportOptions {
                resubscribe,
                confirmed: confirmed.filter(|r| !r.trim().is_empty()),
            };
            let input: Box<dyn Read> = if file.as_os_str() == "-" {
                Box::new(std::io::stdin().lock())
            } else {
                Box::new(
                    std::fs::File::open(&file)
                        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?,
                )
            };
            let report = membership::csv::import(ctx, &list, input, &options).await?;
            for (line, why) in &report.skipped {
                eprintln!("line {line}: {why}; skipped");
            }
            if options.confirmed.is_some() {
                println!(
                    "added {} members, updated {}, skipped {}",
                    report.added,
                    report.updated,
                    report.skipped.len()
                );
            } else {
                println!(
                    "sent {} confirmation requests (they join when they confirm), updated {}, skipped {}; use --confirmed REASON when these people already agreed to be mailed",
                    report.invited,
                    report.updated,
                    report.skipped.len()
                );
            }
        }
        MemberCmd::List {
            list,
            status,
            mode,
            search,
        } => {
            let list = resolve_list(ctx, &list).await?;
            let filter = MemberFilter {
                status: status
                    .as_deref()
                    .map(|s| MemberStatus::parse(s.trim()))
                    .transpose()
                    .map_err(|_| {
                        anyhow::anyhow!(
                            "--status {} is unknown; use {}",
                            status.as_deref().unwrap_or(""),
                            MemberStatus::spellings()
                        )
                    })?,
                mode: mode.as_deref().map(membership::parse_mode).transpose()?,
                text: search.unwrap_or_default(),
            };
            let mut offset = 0;
            loop {
                let page = ctx
                    .store
                    .search_members(list.id(), &filter, 500, offset)
                    .await?;
                for m in &page {
                    println!("{:<40} {:<12} {:<7} {}", m.email, m.status, m.mode, m.name);
                }
                if page.len() < 500 {
                    break;
                }
                offset += 500;
            }
        }
        MemberCmd::Export { list } => {
            let list = resolve_list(ctx, &list).await?;
            membership::csv::export(ctx, &list, std::io::stdout().lock()).await?;
        }
        MemberCmd::Remove { list, emails } => {
            let list = resolve_list(ctx, &list).await?;
            let mut unknown = 0;
            for e in emails {
                let email = EmailAddress::parse(&e)?;
                match membership::remove(ctx, &list, &email, "cli").await? {
                    Removed::Unsubscribed => println!("{email} unsubscribed"),
                    Removed::WasNotSubscribed => println!("{email} was not subscribed"),
                    Removed::NotAMember => {
                        unknown += 1;
                        eprintln!(
                            "{email} is not a member of {}; nothing to remove (`gazette member list` shows who is)",
                            list.posting()
                        );
                    }
                }
            }
            if unknown > 0 {
                return Ok(1);
            }
        }
    }
    Ok(0)
}

pub(super) async fn editor(ctx: &Ctx, c: EditorCmd) -> anyhow::Result<i32> {
    match c {
        EditorCmd::Add { list, email, admin } => {
            let email = EmailAddress::parse(&email)?;
            if admin {
                crate::editors::add(ctx, &email, None).await?;
                println!("{email} is an editor of every list");
            } else {
                let list = resolve_list(ctx, &list).await?;
                crate::editors::add(ctx, &email, Some(&list)).await?;
                println!("{email} is an editor of {}", list.posting());
            }
            println!(
                "they sign in at {}/admin (`gazette editor link {email}` prints a link)",
                ctx.config.base_url
            );
        }
        EditorCmd::Link { email } => {
            let email = EmailAddress::parse(&email)?;
            match crate::editors::link(ctx, &email).await? {
                Some((_, url)) => println!("{url}"),
                None => anyhow::bail!(
                    "{email} is not an editor; add them first with `gazette editor add {email} --list ADDRESS` (or --admin)"
                ),
            }
        }
        EditorCmd::List => {
            let all = crate::editors::all(ctx).await?;
            if all.is_empty() {
                println!("no editors yet; add one with `gazette editor add EMAIL --list ADDRESS`");
            }
            for (list, email) in all {
                println!("{email:<40} {list}");
            }
        }
        EditorCmd::Remove { list, email } => {
            let email = EmailAddress::parse(&email)?;
            let list = match list.list.as_deref() {
                Some(a) => Some(ctx.list_by_address(a).await?),
                None => None,
            };
            if crate::editors::remove(ctx, &email, list.as_ref()).await? {
                println!(
                    "{email} is no longer an editor{}",
                    match &list {
                        Some(l) => format!(" of {}", l.posting()),
                        None => String::new(),
                    }
                );
            } else {
                println!("{email} was not an editor");
            }
        }
    }
    Ok(0)
}
