//! `gazette digest draft|preview|approve|send|status|pause|resume|cancel`.

use super::{fmt_time, resolve_list, DigestCmd};
use crate::app::{Ctx, List};
use crate::digest::curate::{self, Change};
use crate::digest::send::{self, Released};
use crate::digest::sending;
use crate::digest::Issue;
use crate::email::EmailAddress;
use crate::store::digests::DigestRow;
use crate::store::issue_sends::IssueCounts;
use crate::store::{DigestStatus, IssueDelivery};
use std::path::PathBuf;

pub(super) async fn run(ctx: &Ctx, c: DigestCmd) -> anyhow::Result<i32> {
    match c {
        DigestCmd::Draft {
            list,
            subject,
            intro,
            leave_out,
            include,
            top,
            feature,
            note,
            unfeature,
        } => {
            let list = resolve_list(ctx, &list).await?;
            let mut changes: Vec<Change> = Vec::new();
            changes.extend(subject.map(Change::Subject));
            changes.extend(intro.map(Change::Intro));
            changes.extend(leave_out.into_iter().map(Change::LeaveOut));
            changes.extend(include.into_iter().map(Change::Include));
            changes.extend(top.into_iter().rev().map(Change::MoveTop));
            changes.extend(feature.map(|q| Change::Feature(q, note)));
            changes.extend(unfeature.into_iter().map(Change::Unfeature));
            let d = if changes.is_empty() {
                send::draft(ctx, &list).await?
            } else {
                curate::change(ctx, &list, None, &changes).await?
            };
            print_issue_summary(&d)?;
        }
        DigestCmd::Preview {
            list,
            member,
            format,
            out,
        } => preview(ctx, &resolve_list(ctx, &list).await?, member, &format, out).await?,
        DigestCmd::Approve { list } => approve(ctx, &resolve_list(ctx, &list).await?, "").await?,
        DigestCmd::Send { list, now: true } => {
            let list = resolve_list(ctx, &list).await?;
            print_released(&send::send_now(ctx, &list).await?);
        }
        DigestCmd::Send { list, now: false } => {
            let list = resolve_list(ctx, &list).await?;
            approve(ctx, &list, " (use --now to send at once)").await?
        }
        DigestCmd::Status { list } => status(ctx, &resolve_list(ctx, &list).await?).await?,
        DigestCmd::Pause { list, issue } => {
            let list = resolve_list(ctx, &list).await?;
            let s = sending::pause(ctx, &list, issue.issue).await?;
            println!(
                "issue #{} paused: {} held (`gazette digest resume` sends the rest)",
                s.issue.number,
                crate::digest::plural(s.deliveries as usize, "delivery", "deliveries")
            );
            print_counts(&s.issue, &s.counts);
        }
        DigestCmd::Resume { list, issue } => {
            let list = resolve_list(ctx, &list).await?;
            let s = sending::resume(ctx, &list, issue.issue).await?;
            println!(
                "issue #{} resumed: {} queued again (`gazette serve` delivers)",
                s.issue.number,
                crate::digest::plural(s.deliveries as usize, "delivery", "deliveries")
            );
            print_counts(&s.issue, &s.counts);
        }
        DigestCmd::Cancel { list, issue } => {
            let list = resolve_list(ctx, &list).await?;
            let s = sending::cancel(ctx, &list, issue.issue).await?;
            println!(
                "issue #{} cancelled: {} will not be sent",
                s.issue.number,
                crate::digest::plural(s.deliveries as usize, "delivery", "deliveries")
            );
            print_counts(&s.issue, &s.counts);
        }
    }
    Ok(0)
}

async fn preview(
    ctx: &Ctx,
    list: &List,
    member: Option<String>,
    format: &str,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    let member = member.map(|e| EmailAddress::parse(&e)).transpose()?;
    let (_, text, html) = send::preview(ctx, list, member.as_ref()).await?;
    let body = match format {
        "text" => text,
        "html" => html,
        "both" => format!("{text}\n\n{html}"),
        other => anyhow::bail!("--format {other} is unknown; use text, html or both"),
    };
    match out {
        Some(p) => std::fs::write(&p, body)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", p.display()))?,
        None => println!("{}", body.trim_end()),
    }
    Ok(())
}

/// Approves the open issue; sends it at once when its slot has passed.
async fn approve(ctx: &Ctx, list: &List, hint: &str) -> anyhow::Result<()> {
    let (d, released) = send::approve_and_release_if_due(ctx, list, None).await?;
    print_issue_summary(&d)?;
    match released {
        Some(r) => print_released(&r),
        None => println!(
            "approved; it goes out at {}{hint}",
            fmt_time(list.row.next_digest_at, &list.row.timezone)
        ),
    }
    Ok(())
}

async fn status(ctx: &Ctx, list: &List) -> anyhow::Result<()> {
    println!(
        "next scheduled run: {}",
        fmt_time(list.row.next_digest_at, &list.row.timezone)
    );
    for d in ctx.store.recent_digests(list.id(), 10).await? {
        let n = Issue::of(&d)?.items.len();
        let counts = match d.status {
            DigestStatus::Sent => Some(ctx.store.digest_delivery_counts(d.id).await?),
            _ => None,
        };
        let state = match &counts {
            Some(c) => sending::label(&d, c),
            None => d.status.as_str(),
        };
        println!(
            "#{:<4} {:<9} {:>3} question{}  {:>6} recipients  {}",
            d.number,
            state,
            n,
            if n == 1 { " " } else { "s" },
            d.recipients,
            send::subject_for(list, &d)
        );
        if let Some(c) = counts {
            print_counts(&d, &c);
        }
    }
    Ok(())
}

/// A sent issue's deliveries by where they stand; `sent` is only what the
/// relay accepted with 250.
fn print_counts(d: &DigestRow, c: &IssueCounts) {
    println!(
        "      recipients {}: queued {}, sending {}, sent {}, failed {}, cancelled {}, paused {}{}",
        c.recipients,
        c.queued,
        c.sending,
        c.sent,
        c.failed,
        c.cancelled,
        c.paused,
        match (d.expanded_at, d.delivery) {
            (None, IssueDelivery::Running) => " (members still being queued)",
            (None, IssueDelivery::Paused) => " (not every member queued yet)",
            _ => "",
        }
    );
}

fn print_issue_summary(d: &DigestRow) -> anyhow::Result<()> {
    let issue = Issue::of(d)?;
    println!("issue #{} ({}): {}", d.number, d.status, d.subject);
    if issue.is_empty() {
        println!("  (empty: nothing new since the last issue; an empty issue is skipped)");
    }
    for (n, item) in issue.items.iter().enumerate() {
        println!(
            "  {}. [{}] {} — {} (question {}){}",
            n + 1,
            item.section.title(),
            item.subject,
            plural(item.answers.len(), "answer"),
            item.question_id,
            if item.featured {
                " — editor's pick"
            } else {
                ""
            }
        );
    }
    let left_out = &crate::digest::curate::Curation::of(d)?.left_out;
    if !left_out.is_empty() {
        let ids: Vec<String> = left_out.iter().map(i64::to_string).collect();
        println!("  left out: question {}", ids.join(", "));
    }
    Ok(())
}

fn print_released(r: &Released) {
    match r {
        Released::Sent { recipients, .. } => println!(
            "sending to {} (queued; `gazette serve` delivers)",
            plural(*recipients as usize, "member")
        ),
        Released::Skipped { .. } => println!("nothing to send: the issue was empty and is skipped"),
        Released::AlreadyReleased { .. } => println!("this issue was already sent"),
        Released::AwaitingApproval { .. } => {
            println!("waiting for an editor's approval (gazette digest approve)")
        }
    }
}

/// "1 answer", "3 answers".
fn plural(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}
