//! `gazette member add|import|export|remove` and `gazette editor add`.

use super::{resolve_list, EditorCmd, MemberCmd};
use crate::app::Ctx;
use crate::email::EmailAddress;
use crate::membership::{self, Removed};
use std::io::Read;

pub(super) async fn run(ctx: &Ctx, c: MemberCmd) -> anyhow::Result<i32> {
    match c {
        MemberCmd::Add {
            list,
            emails,
            name,
            mode,
        } => {
            let list = resolve_list(ctx, &list).await?;
            anyhow::ensure!(!emails.is_empty(), "give at least one address to add");
            for e in emails {
                let email = EmailAddress::parse(&e)?;
                let m = membership::add(ctx, &list, &email, &name, &mode).await?;
                println!("{} is an active member ({})", m.email, m.mode);
            }
        }
        MemberCmd::Import { list, file } => {
            let list = resolve_list(ctx, &list).await?;
            let text = if file.as_os_str() == "-" {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s)?;
                s
            } else {
                std::fs::read_to_string(&file)
                    .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?
            };
            let report = membership::csv::import(ctx, &list, &text).await?;
            for (line, why) in &report.skipped {
                eprintln!("line {line}: {why}; skipped");
            }
            println!(
                "imported {} members, skipped {}",
                report.added,
                report.skipped.len()
            );
        }
        MemberCmd::Export { list } => {
            let list = resolve_list(ctx, &list).await?;
            membership::csv::export(ctx, &list, &mut std::io::stdout().lock()).await?;
        }
        MemberCmd::Remove { list, emails } => {
            let list = resolve_list(ctx, &list).await?;
            for e in emails {
                let email = EmailAddress::parse(&e)?;
                match membership::remove(ctx, &list, &email, "cli").await? {
                    Removed::Unsubscribed => println!("{email} unsubscribed"),
                    Removed::WasNotSubscribed => println!("{email} was not subscribed"),
                    Removed::NotAMember => println!("{email} is not a member"),
                }
            }
        }
    }
    Ok(0)
}

pub(super) async fn editor(ctx: &Ctx, c: EditorCmd) -> anyhow::Result<i32> {
    let EditorCmd::Add { list, email } = c;
    let list = resolve_list(ctx, &list).await?;
    let email = EmailAddress::parse(&email)?;
    crate::lists::add_editor(ctx, &list, &email).await?;
    println!("{email} is an editor of {}", list.posting());
    Ok(0)
}
