//! The command line's shape: every command, argument and flag, with the
//! help text `gazette --help` shows.

use clap::{Args, Parser, Subcommand};
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
    /// Draft, preview, approve and send digests; pause, resume or cancel one being sent.
    #[command(subcommand)]
    Digest(DigestCmd),
    /// Inspect and retry outgoing mail.
    #[command(subcommand)]
    Outbox(OutboxCmd),
    /// Inspect received mail: what was held, ignored or rejected, and why.
    #[command(subcommand)]
    Inbound(InboundCmd),
    /// Print how gazette understands one message, as JSON: its class, the reply text it would post or the recipients a report is about, and which signals decided. Reads no database and no configuration.
    Inspect(InspectArgs),
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The message file (default: stdin).
    pub file: Option<PathBuf>,
    /// The envelope sender as an MTA would give it (`<>` or "" for the null sender); default: the Return-Path header.
    #[arg(long)]
    pub sender: Option<String>,
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
        /// The posting address, e.g. pm@lists.example.org; commands and replies use its sub-addresses.
        address: String,
        /// The list's name, shown in From and in the digest's subject.
        #[arg(long)]
        name: String,
        /// Crontab schedule of the digest (5 fields, Monday is 1; or 6 with leading seconds).
        #[arg(long, default_value = "0 8 * * MON")]
        schedule: String,
        /// IANA time zone the schedule runs in, e.g. Europe/Paris.
        #[arg(long, default_value = "UTC")]
        timezone: String,
        /// Digests wait for `gazette digest approve`.
        #[arg(long)]
        require_approval: bool,
    },
    /// Show one list, or all.
    Show {
        /// The list's posting address (default: every list).
        address: Option<String>,
    },
    /// Change a list's settings; the next digest run follows a new schedule at once.
    Set {
        /// The list's posting address.
        address: String,
        /// A new name.
        #[arg(long)]
        name: Option<String>,
        /// A new crontab schedule (5 fields, Monday is 1; or 6 with leading seconds).
        #[arg(long)]
        schedule: Option<String>,
        /// A new IANA time zone.
        #[arg(long)]
        timezone: Option<String>,
        /// Digests wait for `gazette digest approve` (`--require-approval false` to stop).
        #[arg(long, num_args = 0..=1, default_missing_value = "true")]
        require_approval: Option<bool>,
        /// With `--require-approval false`: send an issue already waiting for approval now.
        #[arg(long)]
        send_waiting: bool,
        /// The public archive at /archive/<address>: public or off.
        #[arg(long, value_parser = ["public", "off"])]
        archive: Option<String>,
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
    /// Add active members directly (no confirmation). Active members keep their settings unless new ones are given.
    Add {
        #[command(flatten)]
        list: ListArg,
        /// One or more addresses.
        #[arg(required = true)]
        emails: Vec<String>,
        /// Their name, shown with their questions and answers.
        #[arg(long, default_value = "")]
        name: String,
        /// digest, every or paused (new members: digest).
        #[arg(long)]
        mode: Option<String>,
        /// Also add back people who unsubscribed or were disabled by bounces.
        #[arg(long)]
        resubscribe: bool,
    },
    /// Import members from CSV: a header row naming the columns (email, name, mode; an export imports as is; spreadsheet names such as "Email Address" work), or email[,name[,mode]] rows; `-` reads stdin. Without --confirmed, each new address is sent a confirmation request.
    Import {
        #[command(flatten)]
        list: ListArg,
        /// The CSV file, or `-` for stdin.
        file: PathBuf,
        /// Also add back people who unsubscribed or were disabled by bounces.
        #[arg(long)]
        resubscribe: bool,
        /// They already agreed to be mailed (say where, e.g. "signed up at the 2026 summit"): add them as active members without confirmation mails, recording this reason and the time with each.
        #[arg(long, value_name = "REASON")]
        confirmed: Option<String>,
    },
    /// List members: address, status, mode and name, one a line.
    List {
        #[command(flatten)]
        list: ListArg,
        /// Only this status: pending, active, unsubscribed, disabled or guest.
        #[arg(long)]
        status: Option<String>,
        /// Only this delivery mode: digest, every or paused.
        #[arg(long)]
        mode: Option<String>,
        /// Only addresses or names containing this text.
        #[arg(long)]
        search: Option<String>,
    },
    /// Export members as CSV (email,name,status,mode) to stdout.
    Export {
        #[command(flatten)]
        list: ListArg,
    },
    /// Unsubscribe members (no goodbye mail).
    Remove {
        #[command(flatten)]
        list: ListArg,
        /// One or more addresses.
        #[arg(required = true)]
        emails: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum EditorCmd {
    /// Make an address an editor of a list (or of every list with --admin): they sign in at /admin and are told when a digest is ready or a post is held.
    Add {
        #[command(flatten)]
        list: ListArg,
        /// The editor's address.
        email: String,
        /// An editor of every list, present and future.
        #[arg(long, conflicts_with = "list")]
        admin: bool,
    },
    /// Print a one-time sign-in URL for an editor (valid 15 minutes), for when mail is not set up yet.
    Link {
        /// The editor's address.
        email: String,
    },
    /// Show every editor and the lists they edit.
    List,
    /// Stop an address being an editor of a list (or of every list, and an admin, without --list); signs them out.
    Remove {
        #[command(flatten)]
        list: ListArg,
        /// The editor's address.
        email: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum DigestCmd {
    /// Assemble and show the next issue's draft; set its subject or intro.
    Draft {
        #[command(flatten)]
        list: ListArg,
        /// This issue's subject instead of `<list name> digest, <date>` ("" restores it).
        #[arg(long)]
        subject: Option<String>,
        /// A note from the editor at the top of this issue (Markdown).
        #[arg(long)]
        intro: Option<String>,
        /// Leave these questions (ids as `digest draft` shows them) out of this issue.
        #[arg(long, value_name = "QUESTION")]
        leave_out: Vec<i64>,
        /// Put left-out questions back in.
        #[arg(long, value_name = "QUESTION")]
        include: Vec<i64>,
        /// Move a question to the top of the issue.
        #[arg(long, value_name = "QUESTION")]
        top: Vec<i64>,
        /// Feature a question as an editor's pick (with --note).
        #[arg(long, value_name = "QUESTION")]
        feature: Option<i64>,
        /// The note on the pick given with --feature.
        #[arg(long, default_value = "", requires = "feature")]
        note: String,
        /// Stop featuring a question.
        #[arg(long, value_name = "QUESTION")]
        unfeature: Vec<i64>,
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
        /// Send now instead of at the next scheduled time.
        #[arg(long)]
        now: bool,
    },
    /// Show recent issues and the next scheduled run; for sent issues, where their deliveries stand (sent counts only what the relay accepted with 250).
    Status {
        #[command(flatten)]
        list: ListArg,
    },
    /// Pause a sending issue: its queued mail waits and no more is queued; mail being sent finishes.
    Pause {
        #[command(flatten)]
        list: ListArg,
        #[command(flatten)]
        issue: IssueArg,
    },
    /// Resume a paused issue: the rest of its mail goes out.
    Resume {
        #[command(flatten)]
        list: ListArg,
        #[command(flatten)]
        issue: IssueArg,
    },
    /// Cancel a sending or paused issue: nothing more of it is sent.
    Cancel {
        #[command(flatten)]
        list: ListArg,
        #[command(flatten)]
        issue: IssueArg,
    },
}

#[derive(Args, Debug, Clone)]
pub struct IssueArg {
    /// The issue's number as `digest status` shows it (default: the latest sent issue).
    #[arg(long, value_name = "N")]
    pub issue: Option<i64>,
}

#[derive(Subcommand, Debug)]
pub enum OutboxCmd {
    /// Count outgoing mail by kind and status, and show recent failures.
    Status,
    /// Queue failed mail again, with a fresh retry window: one message by id, or every failed one with --all.
    Retry {
        /// The outbox id `gazette outbox status` shows (or --all).
        #[arg(conflicts_with = "all")]
        id: Option<i64>,
        /// Every failed message, including ones the relay refused for good.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum InboundCmd {
    /// Recent inbound messages with their outcome.
    List {
        /// Only this status: accepted, held, ignored, rejected, received (not handled yet), failed (gave up).
        #[arg(long, value_parser = ["accepted", "held", "ignored", "rejected", "received", "failed"])]
        status: Option<String>,
        /// How many, newest first.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// One message: its status, kind and reason, then the raw message as received (with our Received line).
    Show {
        /// The id `gazette inbound list` shows.
        id: i64,
        /// Print how gazette understands it now, as `gazette inspect` does, with its stored status, kind and reason, as JSON.
        #[arg(long, conflicts_with = "raw")]
        explain: bool,
        /// Only the raw message, byte for byte (to save or forward it).
        #[arg(long)]
        raw: bool,
    },
    /// Handle again messages that failed too often (`inbound list --status failed`): one by id, or all with --all.
    Retry {
        /// The id `gazette inbound list` shows (or --all).
        #[arg(conflicts_with = "all")]
        id: Option<i64>,
        /// Every failed message.
        #[arg(long)]
        all: bool,
    },
}
