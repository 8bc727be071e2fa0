//! `gazette digest draft|preview|approve|send|status`.

use super::{fmt_time, resolve_list, DigestCmd};
use crate::app::Ctx;
use crate::digest::send::{self, Released};
use crate::digest::Issue;
use crate::email::EmailAddress;

pub(super) async fn run(ctx: &Ctx, c: DigestCmd) -> anyhow::Result<i32> {
    match c {
        DigestCmd::Draft {
            list,
            subject,
            intro,
        } => {
            let list = resolve_list(ctx, &list).await?;
            let d = if subject.is_some() || intro.is_some() {
                send::edit(ctx, &list, subject.as_deref(), intro.as_deref()).await?
            } else {
                send::draft(ctx, &list).await?
            };
            print_issue_summary(&d);
        }
        DigestCmd::Preview {
            list,
            member,
            format,
            out,
        } => {
            let list = resolve_list(ctx, &list).await?;
            let member = member.map(|e| EmailAddress::parse(&e)).transpose()?;
            let (_, text, html) = send::preview(ctx, &list, member.as_ref()).await?;
            let body = match format.as_str() {
                "text" => text,
                "html" => html,
                "both" => format!("{text}\n\n{html}"),
                other => anyhow::bail!("--format {other} is unknown; use text, html or both"),
            };
            match out {
                Some(p) => std::fs::write(&p, body)?,
                None => println!("{}", body.trim_end()),
            }
        }
        DigestCmd::Approve { list } => {
            let list = resolve_list(ctx, &list).await?;
            let (d, released) = send::approve_and_release_if_due(ctx, &list).await?;
            print_issue_summary(&d);
            match released {
                Some(r) => print_released(&r),
                None => println!(
                    "approved; it goes out at {}",
                    fmt_time(list.row.next_digest_at, &list.row.timezone)
                ),
            }
        }
        DigestCmd::Send { list, now } => {
            let list = resolve_list(ctx, &list).await?;
            if now {
                print_released(&send::send_now(ctx, &list).await?);
            } else {
                let (d, released) = send::approve_and_release_if_due(ctx, &list).await?;
                print_issue_summary(&d);
                match released {
                    Some(r) => print_released(&r),
                    None => println!(
                        "approved; it goes out at {} (use --now to send at once)",
                        fmt_time(list.row.next_digest_at, &list.row.timezone)
                    ),
                }
            }
        }
        DigestCmd::Status { list } => {
            let list = resolve_list(ctx, &list).await?;
            println!(
                "next scheduled run: {}",
                fmt_time(list.row.next_digest_at, &list.row.timezone)
            );
            for d in ctx.store.recent_digests(list.id(), 10).await? {
                println!(
                    "#{:<4} {:<9} {:>3} questions  {:>6} recipients  {}",
                    d.number,
                    d.status,
                    Issue::from_json(&d.content).items.len(),
                    d.recipients,
                    send::subject_for(&list, &d)
                );
            }
        }
    }
    Ok(0)
}

fn print_issue_summary(d: &crate::store::digests::DigestRow) {
    let issue = Issue::from_json(&d.content);
    println!("issue #{} ({}): {}", d.number, d.status, d.subject);
    if issue.is_empty() {
        println!("  (empty: nothing new since the last issue; an empty issue is skipped)");
    }
    for (n, item) in issue.items.iter().enumerate() {
        println!(
            "  {}. [{}] {} — {} answer(s)",
            n + 1,
            item.section.title(),
            item.subject,
            item.answers.len()
        );
    }
}

fn print_released(r: &Released) {
    match r {
        Released::Sent { recipients, .. } => println!("sending to {recipients} members"),
        Released::Skipped { .. } => println!("nothing to send: the issue was empty and is skipped"),
        Released::AlreadyReleased { .. } => println!("this issue was already sent"),
        Released::AwaitingApproval { .. } => {
            println!("waiting for an editor's approval (gazette digest approve)")
        }
    }
}
