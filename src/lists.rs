//! Lists as the operator and editors manage them: creating one and changing
//! its name, schedule, time zone and approval policy. Every change is
//! validated here once, and the persisted next digest run follows it.

use crate::address::ListAddress;
use crate::app::{Ctx, List};
use crate::digest::schedule::{parse_timezone, Schedule};
use crate::store::lists::NewList;

/// What a new list is made of.
pub struct ListSpec<'a> {
    pub address: &'a str,
    pub name: &'a str,
    pub schedule: &'a str,
    pub timezone: &'a str,
    pub require_approval: bool,
}

/// The settings a change touches; `None` keeps the current value.
#[derive(Debug, Default)]
pub struct ListChanges {
    pub name: Option<String>,
    pub schedule: Option<String>,
    pub timezone: Option<String>,
    pub require_approval: Option<bool>,
    /// Turning approval off sends an issue already waiting for approval at
    /// once; that must be asked for, not a side effect.
    pub release_waiting: bool,
    /// The public archive on or off.
    pub archive_public: Option<bool>,
}

pub async fn create(ctx: &Ctx, spec: &ListSpec<'_>) -> anyhow::Result<List> {
    let address = ListAddress::parse(spec.address, ctx.config.separator)?;
    let schedule = Schedule::parse(spec.schedule)?;
    let tz = parse_timezone(spec.timezone)?;
    let name = spec.name.trim();
    anyhow::ensure!(
        !name.is_empty(),
        "a list needs a name (--name \"PM Circle\")"
    );
    if ctx
        .store
        .list_by_address(&address.posting())
        .await?
        .is_some()
    {
        anyhow::bail!(
            "list {} already exists; change it with `gazette list set`",
            address.posting()
        );
    }
    let id = ctx
        .store
        .insert_list(&NewList {
            address: &address.posting(),
            name,
            schedule: schedule.as_str(),
            timezone: spec.timezone.trim(),
            require_approval: spec.require_approval,
            next_digest_at: Some(first_slot(&schedule, tz, crate::now_ms())?),
        })
        .await?;
    reload(ctx, id).await
}

/// Applies `changes`, each setting with its own statement. The next digest
/// run moves only when the schedule or the time zone changes, and then by
/// compare-and-set, so a slot firing meanwhile is never undone or fired
/// twice; a slot already due (missed during downtime) stays due, so the
/// issue it owes still goes out once, and the new schedule counts from it.
pub async fn change(ctx: &Ctx, list: &List, changes: ListChanges) -> anyhow::Result<List> {
    let name = match changes.name.as_deref().map(str::trim) {
        Some("") => anyhow::bail!("a list's name cannot be empty"),
        other => other,
    };
    let schedule = changes
        .schedule
        .as_deref()
        .map(Schedule::parse)
        .transpose()?;
    let tz = changes
        .timezone
        .as_deref()
        .map(parse_timezone)
        .transpose()?;
    if changes.require_approval == Some(false) && list.row.require_approval {
        refuse_silent_release(ctx, list, changes.release_waiting).await?;
    }
    if let Some(name) = name {
        ctx.store.set_list_name(list.id(), name).await?;
    }
    if let Some(on) = changes.require_approval {
        ctx.store.set_require_approval(list.id(), on).await?;
    }
    if let Some(on) = changes.archive_public {
        ctx.store.set_archive_public(list.id(), on).await?;
    }
    if schedule.is_some() || tz.is_some() {
        reschedule(ctx, list.id(), schedule, changes.timezone.as_deref()).await?;
    }
    reload(ctx, list.id()).await
}

/// The issue number waiting for approval whose send time has passed, if
/// any: turning approval off would send it on the scheduler's next pass.
pub async fn waiting_issue(ctx: &Ctx, list: &List) -> anyhow::Result<Option<i64>> {
    Ok(ctx
        .store
        .open_digest(list.id())
        .await?
        .filter(|d| d.due_at.is_some() && d.status == crate::store::DigestStatus::Draft)
        .map(|d| d.number))
}

/// An issue the schedule already fired, waiting for an editor: turning
/// approval off would send it on the scheduler's next pass.
async fn refuse_silent_release(ctx: &Ctx, list: &List, release: bool) -> anyhow::Result<()> {
    let waiting = ctx
        .store
        .open_digest(list.id())
        .await?
        .filter(|d| d.due_at.is_some() && d.status == crate::store::DigestStatus::Draft);
    match waiting {
        Some(d) if !release => anyhow::bail!(
            "issue #{} of {} is waiting for approval and its send time has passed: with approval off it would go out at once. Approve it first (`gazette digest approve`), or repeat with --send-waiting to send it now",
            d.number,
            list.posting()
        ),
        _ => Ok(()),
    }
}

/// Stores a new schedule and time zone with the next run they give.
async fn reschedule(
    ctx: &Ctx,
    id: i64,
    schedule: Option<Schedule>,
    timezone: Option<&str>,
) -> anyhow::Result<()> {
    // A few tries: each failure means a slot fired in between, which is
    // rare and quick, so this does not spin.
    for _ in 0..5 {
        let row = ctx
            .store
            .list_by_id(id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("list {id} vanished"))?;
        let schedule = match &schedule {
            Some(s) => s.clone(),
            None => Schedule::parse(&row.schedule)?,
        };
        let tz_name = timezone.unwrap_or(&row.timezone).trim().to_string();
        let tz = parse_timezone(&tz_name)?;
        let now = crate::now_ms();
        let next = match row.next_digest_at {
            Some(due) if due <= now => due,
            _ => first_slot(&schedule, tz, now)?,
        };
        if ctx
            .store
            .set_schedule(
                id,
                schedule.as_str(),
                &tz_name,
                Some(next),
                row.next_digest_at,
            )
            .await?
        {
            return Ok(());
        }
    }
    anyhow::bail!("the list's next digest kept moving while its schedule was changed; try again")
}

fn first_slot(schedule: &Schedule, tz: chrono_tz::Tz, after_ms: i64) -> anyhow::Result<i64> {
    let after = chrono::DateTime::from_timestamp_millis(after_ms)
        .ok_or_else(|| anyhow::anyhow!("time {after_ms} is out of range"))?;
    schedule
        .next_after(after, tz)
        .map(|t| t.timestamp_millis())
        .ok_or_else(|| anyhow::anyhow!("schedule `{schedule}` never fires"))
}

async fn reload(ctx: &Ctx, id: i64) -> anyhow::Result<List> {
    let row = ctx
        .store
        .list_by_id(id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("list {id} vanished"))?;
    Ok(ctx.list(row))
}

/// The list named by `address`, or the only list when none is named.
pub async fn resolve(ctx: &Ctx, address: Option<&str>) -> anyhow::Result<List> {
    if let Some(a) = address {
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

/// Makes `email` an editor of `list`: they are told when a digest is ready.
pub async fn add_editor(
    ctx: &Ctx,
    list: &List,
    email: &crate::email::EmailAddress,
) -> anyhow::Result<()> {
    ctx.store
        .add_editor(list.id(), email.as_str(), &email.key())
        .await?;
    Ok(())
}
