//! Lists as the operator and editors manage them: creating one and changing
//! its name, schedule, time zone and approval policy. Every change is
//! validated here once, and the persisted next digest run follows it.

use crate::address::ListAddress;
use crate::app::{Ctx, List};
use crate::digest::schedule::{parse_timezone, Schedule};
use crate::digest::scheduler::next_slot;
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
}

pub async fn create(ctx: &Ctx, spec: &ListSpec<'_>) -> anyhow::Result<List> {
    let address = ListAddress::parse(spec.address, ctx.config.separator)?;
    Schedule::parse(spec.schedule)?;
    parse_timezone(spec.timezone)?;
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
            schedule: spec.schedule.trim(),
            timezone: spec.timezone.trim(),
            require_approval: spec.require_approval,
            next_digest_at: None,
        })
        .await?;
    let row = ctx
        .store
        .list_by_id(id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("list {id} vanished right after it was created"))?;
    change(ctx, &ctx.list(row), ListChanges::default()).await
}

/// Applies `changes` and re-computes the next digest run from now.
pub async fn change(ctx: &Ctx, list: &List, changes: ListChanges) -> anyhow::Result<List> {
    let mut row = list.row.clone();
    if let Some(n) = changes.name {
        anyhow::ensure!(!n.trim().is_empty(), "a list's name cannot be empty");
        row.name = n.trim().to_string();
    }
    if let Some(s) = changes.schedule {
        Schedule::parse(&s)?;
        row.schedule = s.trim().to_string();
    }
    if let Some(t) = changes.timezone {
        parse_timezone(&t)?;
        row.timezone = t.trim().to_string();
    }
    if let Some(r) = changes.require_approval {
        row.require_approval = r;
    }
    let updated = ctx.list(row.clone());
    row.next_digest_at = Some(next_slot(&updated, crate::now_ms())?);
    ctx.store.update_list(&row).await?;
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
