//! `gazette list create|show|set`.

use super::{fmt_time, ListCmd};
use crate::app::{Ctx, List};
use crate::lists::{self, ListChanges, ListSpec};

pub(super) async fn run(ctx: &Ctx, c: ListCmd) -> anyhow::Result<i32> {
    match c {
        ListCmd::Create {
            address,
            name,
            schedule,
            timezone,
            require_approval,
        } => {
            let spec = ListSpec {
                address: &address,
                name: &name,
                schedule: &schedule,
                timezone: &timezone,
                require_approval,
            };
            let list = lists::create(ctx, &spec).await?;
            println!("created list {} ({})", list.posting(), list.name());
            print_list(ctx, &list).await?;
        }
        ListCmd::Show { address } => {
            let all = match address {
                Some(a) => vec![ctx.list_by_address(&a).await?],
                None => ctx
                    .store
                    .lists()
                    .await?
                    .into_iter()
                    .map(|r| ctx.list(r))
                    .collect(),
            };
            if all.is_empty() {
                println!("no lists yet; create one with `gazette list create ADDRESS --name NAME`");
            }
            for l in all {
                print_list(ctx, &l).await?;
            }
        }
        ListCmd::Set {
            address,
            name,
            schedule,
            timezone,
            require_approval,
            send_waiting,
            archive,
        } => {
            let list = ctx.list_by_address(&address).await?;
            let changes = ListChanges {
                name,
                schedule,
                timezone,
                require_approval,
                release_waiting: send_waiting,
                archive_public: archive.map(|a| a == "public"),
            };
            let list = lists::change(ctx, &list, changes).await?;
            print_list(ctx, &list).await?;
        }
    }
    Ok(0)
}

async fn print_list(ctx: &Ctx, l: &List) -> anyhow::Result<()> {
    let or_none = |s: String| if s.is_empty() { "none".into() } else { s };
    let members = ctx
        .store
        .member_counts(l.id())
        .await?
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect::<Vec<_>>()
        .join(", ");
    let editors = ctx.store.editors(l.id()).await?.join(", ");
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
        "  public archive:   {}",
        if l.row.archive_public {
            format!("on ({})", crate::web::archive_url(l))
        } else {
            "off".into()
        }
    );
    println!("  members:          {}", or_none(members));
    println!("  editors:          {}", or_none(editors));
    Ok(())
}
