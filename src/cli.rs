//! The command-line interface: argument definitions and one function per
//! command. Each calls the same domain functions the web and mail paths use.

use crate::app::{Ctx, List};
use crate::config::Config;
use crate::digest::schedule::{parse_timezone, Schedule};
use crate::digest::send::{self, Released};
use crate::digest::Issue;
use crate::email::EmailAddress;
use crate::inbound::{receive, InboundError, Incoming};
use crate::store::lists::NewList;
use clap::{Args, Parser, Subcommand};
use std::io::{Read, Write};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "gazette",
    version,
    about = "An email-first engine for professional Q&A communities"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Run everything: HTTP, the inbound SMTP/LMTP listener, the scheduler and the delivery workers.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Read one message on stdin (for an MTA pipe). Exit codes: 0 accepted, 65 unusable, 67 unknown recipient, 75 try later.
    Ingest(IngestArgs),
    /// Create, show and change lists.
    #[command(subcommand)]
    List(ListCmd),
    /// Manage members.
    #[command(subcommand)]
    Member(MemberCmd),
    /// Manage editors.
    #[command(subcommand)]
    Editor(EditorCmd),
    /// Draft, preview, approve and send digests.
    #[command(subcommand)]
    Digest(DigestCmd),
    /// Inspect and retry outgoing mail.
    #[command(subcommand)]
    Outbox(OutboxCmd),
    /// Inspect received mail: what was held, ignored or rejected, and why.
    #[command(subcommand)]
    Inbound(InboundCmd),
}

#[derive(Args, Debug)]
pub struct IngestArgs {
    /// The envelope recipient (default: $ORIGINAL_RECIPIENT, $RECIPIENT, then Delivered-To/X-Original-To/To headers).
    #[arg(long)]
    pub recipient: Option<String>,
    /// The envelope sender (default: $SENDER, then Return-Path).
    #[arg(long)]
    pub sender: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum ListCmd {
    /// Create a list.
    Create {
        address: String,
        #[arg(long)]
        name: String,
        /// Crontab schedule of the digest (5 fields, Monday is 1; or 6 with leading seconds).
        #[arg(long, default_value = "0 8 * * MON")]
        schedule: String,
        #[arg(long, default_value = "UTC")]
        timezone: String,
        /// Digests wait for `gazette digest approve`.
        #[arg(long)]
        require_approval: bool,
    },
    /// Show one list, or all.
    Show { address: Option<String> },
    /// Change a list's settings.
    Set {
        address: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        schedule: Option<String>,
        #[arg(long)]
        timezone: Option<String>,
        #[arg(long)]
        require_approval: Option<bool>,
    },
}

#[derive(Args, Debug, Clone)]
pub struct ListArg {
    /// The list's address (optional when there is only one list).
    #[arg(long)]
    pub list: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum MemberCmd {
    /// Add active members directly (no confirmation).
    Add {
        #[command(flatten)]
        list: ListArg,
        emails: Vec<String>,
        #[arg(long, default_value = "")]
        name: String,
        /// digest, every or paused.
        #[arg(long, default_value = "digest")]
        mode: String,
    },
    /// Import members from CSV (email[,name[,mode]]; a header row is skipped); `-` reads stdin.
    Import {
        #[command(flatten)]
        list: ListArg,
        file: PathBuf,
    },
    /// Export members as CSV to stdout.
    Export {
        #[command(flatten)]
        list: ListArg,
    },
    /// Unsubscribe members (no goodbye mail).
    Remove {
        #[command(flatten)]
        list: ListArg,
        emails: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum EditorCmd {
    Add {
        #[command(flatten)]
        list: ListArg,
        email: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum DigestCmd {
    /// Assemble and show the next issue's draft.
    Draft {
        #[command(flatten)]
        list: ListArg,
    },
    /// Show what a member would receive.
    Preview {
        #[command(flatten)]
        list: ListArg,
        /// The member whose links and tokens to use (default: the first active member).
        #[arg(long)]
        member: Option<String>,
        /// text, html or both.
        #[arg(long, default_value = "text")]
        format: String,
        /// Write to this file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Approve (freeze) the draft; if its scheduled time already passed it is sent now.
    Approve {
        #[command(flatten)]
        list: ListArg,
    },
    /// Approve the draft and send it at the next scheduled time, or at once with --now.
    Send {
        #[command(flatten)]
        list: ListArg,
        #[arg(long)]
        now: bool,
    },
    /// Show recent issues and the next scheduled run.
    Status {
        #[command(flatten)]
        list: ListArg,
    },
}

#[derive(Subcommand, Debug)]
pub enum OutboxCmd {
    /// Count outgoing mail by kind and status, and show recent failures.
    Status,
    /// Queue failed mail again (one id, or all).
    Retry { id: Option<i64> },
}

#[derive(Subcommand, Debug)]
pub enum InboundCmd {
    /// Recent inbound messages with their outcome.
    List {
        /// Only this status: accepted, held, ignored, rejected, received.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// The raw message as received.
    Show { id: i64 },
}

/// Runs one command; returns the process exit code.
pub async fn run(cli: Cli, config: Config) -> anyhow::Result<i32> {
    match cli.command {
        Cmd::Serve => crate::serve::serve(config).await.map(|_| 0),
        Cmd::Migrate => migrate(config).await,
        Cmd::Ingest(args) => ingest(config, args).await,
        Cmd::List(c) => list_cmd(&Ctx::open(config).await?, c).await,
        Cmd::Member(c) => member_cmd(&Ctx::open(config).await?, c).await,
        Cmd::Editor(EditorCmd::Add { list, email }) => {
            let ctx = Ctx::open(config).await?;
            let list = resolve_list(&ctx, &list).await?;
            let email = EmailAddress::parse(&email)?;
            ctx.store
                .add_editor(list.id(), email.as_str(), &email.key())
                .await?;
            println!("{email} is an editor of {}", list.posting());
            Ok(0)
        }
        Cmd::Digest(c) => digest_cmd(&Ctx::open(config).await?, c).await,
        Cmd::Outbox(c) => outbox_cmd(&Ctx::open(config).await?, c).await,
        Cmd::Inbound(c) => inbound_cmd(&Ctx::open(config).await?, c).await,
    }
}

async fn migrate(config: Config) -> anyhow::Result<i32> {
    let store = crate::store::Store::connect(&config.database_url).await?;
    let applied = store.migrate().await?;
    if applied.is_empty() {
        println!("database is up to date");
    }
    for m in applied {
        println!("applied {m}");
    }
    Ok(0)
}

/// sysexits(3) codes an MTA understands.
pub const EX_DATAERR: i32 = 65;
pub const EX_NOUSER: i32 = 67;
pub const EX_TEMPFAIL: i32 = 75;

async fn ingest(config: Config, args: IngestArgs) -> anyhow::Result<i32> {
    let mut raw = Vec::new();
    let limit = config.max_message_bytes;
    std::io::stdin()
        .take(limit as u64 + 1)
        .read_to_end(&mut raw)?;
    if raw.len() > limit {
        eprintln!("gazette ingest: message over the size limit of {limit} bytes (max_message_bytes); refused");
        return Ok(EX_DATAERR);
    }
    let ctx = match Ctx::open(config).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gazette ingest: {e:#}; the MTA should retry later");
            return Ok(EX_TEMPFAIL);
        }
    };
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let recipient = match args
        .recipient
        .or_else(|| env("ORIGINAL_RECIPIENT"))
        .or_else(|| env("RECIPIENT"))
    {
        Some(r) => r,
        None => recipient_from_headers(&ctx, &raw)
            .await?
            .unwrap_or_default(),
    };
    // An MTA that pipes to a command sets $SENDER, empty for the null
    // sender `<>`; without it the Return-Path header stands in.
    let sender = args
        .sender
        .or_else(|| std::env::var("SENDER").ok())
        .map(|s| s.trim().trim_matches(['<', '>']).to_string());
    let incoming = Incoming {
        transport: "stdin",
        mail_from: sender.as_deref(),
        recipient: &recipient,
        raw: &raw,
    };
    let code = match receive(&ctx, &incoming).await {
        Ok(r) => {
            let dup = if r.duplicate {
                " (duplicate: acted on once before)"
            } else {
                ""
            };
            eprintln!(
                "gazette ingest: #{} {}{dup}: {}",
                r.inbound_id, r.outcome.status, r.outcome.reason
            );
            if r.outcome.status == "rejected"
                && r.outcome.list_id.is_none()
                && r.outcome.kind != "unparseable"
            {
                EX_NOUSER
            } else {
                0
            }
        }
        Err(e @ (InboundError::TooBig { .. } | InboundError::Empty)) => {
            eprintln!("gazette ingest: {e}");
            EX_DATAERR
        }
        Err(e @ InboundError::Temporary(_)) => {
            eprintln!("gazette ingest: {e}");
            EX_TEMPFAIL
        }
    };
    Ok(code)
}

/// The first list address among Delivered-To, X-Original-To, To and Cc.
async fn recipient_from_headers(ctx: &Ctx, raw: &[u8]) -> anyhow::Result<Option<String>> {
    let Some(msg) = mail_parser::MessageParser::default().parse_headers(raw) else {
        return Ok(None);
    };
    let mut candidates: Vec<String> = Vec::new();
    for name in ["Delivered-To", "X-Original-To"] {
        for v in msg.header_values(name) {
            if let Some(t) = v.as_text() {
                candidates.push(t.trim().trim_matches(['<', '>']).to_string());
            }
        }
    }
    for addrs in [msg.to(), msg.cc()].into_iter().flatten() {
        candidates.extend(addrs.iter().filter_map(|a| a.address()).map(str::to_string));
    }
    for c in candidates {
        if ctx.route(&c).await?.is_some() {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

async fn resolve_list(ctx: &Ctx, arg: &ListArg) -> anyhow::Result<List> {
    if let Some(a) = &arg.list {
        return ctx.list_by_address(a).await;
    }
    let mut lists = ctx.store.lists().await?;
    match lists.len() {
        1 => Ok(ctx.list(lists.remove(0))),
        0 => anyhow::bail!(
            "there are no lists yet; create one with `gazette list create ADDRESS --name NAME`"
        ),
        _ => anyhow::bail!("there are several lists; say which with --list ADDRESS"),
    }
}

async fn list_cmd(ctx: &Ctx, c: ListCmd) -> anyhow::Result<i32> {
    match c {
        ListCmd::Create {
            address,
            name,
            schedule,
            timezone,
            require_approval,
        } => {
            let addr = crate::address::ListAddress::parse(&address, ctx.config.separator)?;
            Schedule::parse(&schedule)?;
            parse_timezone(&timezone)?;
            anyhow::ensure!(!name.trim().is_empty(), "--name must not be empty");
            if ctx.store.list_by_address(&addr.posting()).await?.is_some() {
                anyhow::bail!(
                    "list {} already exists; change it with `gazette list set`",
                    addr.posting()
                );
            }
            let id = ctx
                .store
                .insert_list(&NewList {
                    address: &addr.posting(),
                    name: name.trim(),
                    schedule: &schedule,
                    timezone: &timezone,
                    require_approval,
                    next_digest_at: None,
                })
                .await?;
            let list = ctx.list(ctx.store.list_by_id(id).await?.expect("just inserted"));
            let mut row = list.row.clone();
            row.next_digest_at = Some(crate::digest::scheduler::next_slot(&list, crate::now_ms())?);
            ctx.store.update_list(&row).await?;
            println!("created list {} ({})", list.posting(), list.name());
            print_list(ctx, &ctx.list(row)).await?;
        }
        ListCmd::Show { address } => {
            let lists = match address {
                Some(a) => vec![ctx.list_by_address(&a).await?],
                None => ctx
                    .store
                    .lists()
                    .await?
                    .into_iter()
                    .map(|r| ctx.list(r))
                    .collect(),
            };
            if lists.is_empty() {
                println!("no lists yet; create one with `gazette list create ADDRESS --name NAME`");
            }
            for l in lists {
                print_list(ctx, &l).await?;
            }
        }
        ListCmd::Set {
            address,
            name,
            schedule,
            timezone,
            require_approval,
        } => {
            let list = ctx.list_by_address(&address).await?;
            let mut row = list.row.clone();
            if let Some(n) = name {
                row.name = n;
            }
            if let Some(s) = schedule {
                Schedule::parse(&s)?;
                row.schedule = s;
            }
            if let Some(t) = timezone {
                parse_timezone(&t)?;
                row.timezone = t;
            }
            if let Some(r) = require_approval {
                row.require_approval = r;
            }
            let updated = ctx.list(row.clone());
            row.next_digest_at = Some(crate::digest::scheduler::next_slot(
                &updated,
                crate::now_ms(),
            )?);
            ctx.store.update_list(&row).await?;
            print_list(ctx, &ctx.list(row)).await?;
        }
    }
    Ok(0)
}

fn fmt_time(ms: Option<i64>, tz: &str) -> String {
    use chrono::TimeZone;
    let Some(ms) = ms else { return "-".into() };
    let tz = parse_timezone(tz).unwrap_or(chrono_tz::UTC);
    match tz.timestamp_millis_opt(ms).single() {
        Some(t) => t.format("%Y-%m-%d %H:%M %Z").to_string(),
        None => ms.to_string(),
    }
}

async fn print_list(ctx: &Ctx, l: &List) -> anyhow::Result<()> {
    let counts = ctx.store.member_counts(l.id()).await?;
    let members = counts
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect::<Vec<_>>()
        .join(", ");
    println!("{}", l.posting());
    println!("  name:             {}", l.name());
    println!(
        "  schedule:         {} ({})",
        l.row.schedule, l.row.timezone
    );
    println!(
        "  next digest:      {}",
        fmt_time(l.row.next_digest_at, &l.row.timezone)
    );
    println!(
        "  require approval: {}",
        if l.row.require_approval { "yes" } else { "no" }
    );
    println!(
        "  members:          {}",
        if members.is_empty() {
            "none".into()
        } else {
            members
        }
    );
    let editors = ctx.store.editors(l.id()).await?;
    println!(
        "  editors:          {}",
        if editors.is_empty() {
            "none".into()
        } else {
            editors.join(", ")
        }
    );
    Ok(())
}

async fn member_cmd(ctx: &Ctx, c: MemberCmd) -> anyhow::Result<i32> {
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
                let m = crate::membership::add(ctx, &list, &email, &name, &mode).await?;
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
            let (mut added, mut skipped) = (0, 0);
            for (n, line) in text.lines().enumerate() {
                let fields: Vec<&str> = line
                    .split(',')
                    .map(|f| f.trim().trim_matches('"'))
                    .collect();
                if fields[0].is_empty() || (n == 0 && fields[0].eq_ignore_ascii_case("email")) {
                    continue;
                }
                let mode = fields
                    .get(2)
                    .copied()
                    .filter(|m| !m.is_empty())
                    .unwrap_or("digest");
                match EmailAddress::parse(fields[0]) {
                    Ok(email) => {
                        crate::membership::add(
                            ctx,
                            &list,
                            &email,
                            fields.get(1).copied().unwrap_or(""),
                            mode,
                        )
                        .await?;
                        added += 1;
                    }
                    Err(e) => {
                        eprintln!("line {}: {e}; skipped", n + 1);
                        skipped += 1;
                    }
                }
            }
            println!("imported {added} members, skipped {skipped}");
        }
        MemberCmd::Export { list } => {
            let list = resolve_list(ctx, &list).await?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "email,name,status,mode")?;
            for m in ctx.store.members(list.id()).await? {
                writeln!(
                    out,
                    "{},{},{},{}",
                    m.email,
                    csv_field(&m.name),
                    m.status,
                    m.mode
                )?;
            }
        }
        MemberCmd::Remove { list, emails } => {
            let list = resolve_list(ctx, &list).await?;
            for e in emails {
                let email = EmailAddress::parse(&e)?;
                match ctx.store.member_by_email(list.id(), &email.key()).await? {
                    Some(m) if crate::membership::leave(ctx, &m, false, "cli").await? => {
                        println!("{email} unsubscribed")
                    }
                    Some(_) => println!("{email} was not subscribed"),
                    None => println!("{email} is not a member"),
                }
            }
        }
    }
    Ok(0)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

async fn digest_cmd(ctx: &Ctx, c: DigestCmd) -> anyhow::Result<i32> {
    match c {
        DigestCmd::Draft { list } => {
            let list = resolve_list(ctx, &list).await?;
            let d = send::draft(ctx, &list).await?;
            print_issue_summary(&d);
        }
        DigestCmd::Preview {
            list,
            member,
            format,
            out,
        } => {
            let list = resolve_list(ctx, &list).await?;
            let d = send::draft(ctx, &list).await?;
            let m = match member {
                Some(e) => {
                    let email = EmailAddress::parse(&e)?;
                    ctx.store
                        .member_by_email(list.id(), &email.key())
                        .await?
                        .ok_or_else(|| {
                            anyhow::anyhow!("{email} is not a member of {}", list.posting())
                        })?
                }
                None => ctx
                    .store
                    .members(list.id())
                    .await?
                    .into_iter()
                    .find(|m| m.is_active())
                    .ok_or_else(|| {
                        anyhow::anyhow!(
                            "{} has no active member to preview for; pass --member",
                            list.posting()
                        )
                    })?,
            };
            let issue = Issue::from_json(&d.content);
            let (text, html) = crate::outbound::render::digest_bodies(
                ctx, &list, &m, &d.subject, &d.intro, &issue,
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            let body = match format.as_str() {
                "text" => text,
                "html" => html,
                "both" => format!("{text}\n\n{html}"),
                other => anyhow::bail!("--format {other} is unknown; use text, html or both"),
            };
            match out {
                Some(p) => std::fs::write(&p, body)?,
                None => print!("{body}"),
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
                print_released(&send::send_now(ctx, &list, false).await?);
            } else {
                let d = send::approve(ctx, &list).await?;
                print_issue_summary(&d);
                println!(
                    "approved; it goes out at {} (use --now to send at once)",
                    fmt_time(list.row.next_digest_at, &list.row.timezone)
                );
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
                    d.subject
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

async fn outbox_cmd(ctx: &Ctx, c: OutboxCmd) -> anyhow::Result<i32> {
    match c {
        OutboxCmd::Status => {
            let counts = ctx.store.outbox_counts().await?;
            if counts.is_empty() {
                println!("the outbox is empty");
            }
            for (kind, status, n) in counts {
                println!("{kind:<8} {status:<10} {n}");
            }
            for (id, to, kind, attempts, reply) in ctx.store.failed_outbox(20).await? {
                println!("failed #{id} {kind} to {to} after {attempts} attempt(s): {reply}");
            }
        }
        OutboxCmd::Retry { id } => {
            let n = ctx.store.retry_failed(id.unwrap_or(0)).await?;
            println!("queued {n} message(s) again");
        }
    }
    Ok(0)
}

async fn inbound_cmd(ctx: &Ctx, c: InboundCmd) -> anyhow::Result<i32> {
    match c {
        InboundCmd::List { status, limit } => {
            for m in ctx
                .store
                .recent_inbound(status.as_deref().unwrap_or(""), limit)
                .await?
            {
                println!(
                    "#{:<6} {:<9} {:<11} {} → {} {:?}: {}",
                    m.id,
                    m.status,
                    m.kind,
                    m.from_addr
                        .as_deref()
                        .unwrap_or(match m.mail_from.as_deref() {
                            Some("") => "<>",
                            Some(s) => s,
                            None => "(unknown sender)",
                        }),
                    m.rcpt_to,
                    m.subject.unwrap_or_default(),
                    m.reason
                );
            }
        }
        InboundCmd::Show { id } => match ctx.store.inbound_raw(id).await? {
            Some(raw) => std::io::stdout().write_all(&raw)?,
            None => anyhow::bail!("no inbound message #{id}; `gazette inbound list` shows them"),
        },
    }
    Ok(0)
}
