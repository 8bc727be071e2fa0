//! Curation: the editors' decisions about the next issue (which questions
//! it carries, in which order, which are featured with a note, which
//! answers show), kept apart from the assembled material and applied each
//! time the issue is assembled. So a question posted after an editor's
//! last save still arrives in the draft, and the decisions stay.
//!
//! Saves are optimistic: each carries the version the editor saw, and a
//! save onto a newer version is refused ([`CurateError::Stale`]), never
//! merged silently.

use super::{Issue, Item};
use crate::app::{Ctx, List};
use crate::store::digests::DigestRow;
use crate::store::DigestStatus;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What editors decided about one issue (`digests.curation`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Curation {
    /// Questions left out of this issue (they stay for the next one).
    #[serde(default)]
    pub left_out: BTreeSet<i64>,
    /// Question ids in the editors' order; questions not named follow in
    /// the assembled order.
    #[serde(default)]
    pub order: Vec<i64>,
    /// Editor's picks, with their notes.
    #[serde(default)]
    pub featured: BTreeMap<i64, String>,
    /// Answers not shown in this issue.
    #[serde(default)]
    pub hidden_answers: BTreeSet<i64>,
}

/// The longest note on an editor's pick.
pub const NOTE_MAX: usize = 280;
/// The longest intro.
pub const INTRO_MAX: usize = 8000;
/// The longest subject.
pub const SUBJECT_MAX: usize = 200;

impl Curation {
    /// The decisions stored with issue `d`; unreadable ones are an error
    /// (an issue sent without its editors' decisions would be a surprise).
    pub fn of(d: &DigestRow) -> anyhow::Result<Curation> {
        serde_json::from_str(&d.curation).map_err(|e| {
            anyhow::anyhow!(
                "issue #{} has editor decisions gazette cannot read ({e}); nothing was changed",
                d.number
            )
        })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("curation serialises")
    }

    /// Every assembled item in the editors' order, left-out ones included.
    pub fn arrange(&self, assembled: Vec<Item>) -> Vec<Item> {
        let position = |id: i64| self.order.iter().position(|&q| q == id);
        let mut keyed: Vec<(usize, Item)> = assembled
            .into_iter()
            .enumerate()
            .map(|(n, item)| {
                let key = position(item.question_id).unwrap_or(self.order.len() + n);
                (key, item)
            })
            .collect();
        keyed.sort_by_key(|(k, _)| *k);
        keyed.into_iter().map(|(_, i)| i).collect()
    }

    /// The issue as it goes out: ordered, left-out questions and hidden
    /// answers removed, picks marked with their notes.
    pub fn apply(&self, assembled: Issue) -> Issue {
        let items = self
            .arrange(assembled.items)
            .into_iter()
            .filter(|i| !self.left_out.contains(&i.question_id))
            .map(|mut i| {
                i.answers
                    .retain(|a| !self.hidden_answers.contains(&a.answer_id));
                if let Some(note) = self.featured.get(&i.question_id) {
                    i.featured = true;
                    i.note = note.clone();
                }
                i
            })
            .collect();
        Issue { items }
    }
}

/// One editor action on the draft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    LeaveOut(i64),
    Include(i64),
    MoveTop(i64),
    MoveUp(i64),
    MoveDown(i64),
    /// A whole new order (drag and drop), by question id.
    Order(Vec<i64>),
    /// Feature a question with a note ("" for none).
    Feature(i64, String),
    Unfeature(i64),
    /// The answers of a question that show (the others are hidden).
    ShowAnswers {
        question: i64,
        shown: Vec<i64>,
    },
    /// "" restores the default subject.
    Subject(String),
    Intro(String),
}

#[derive(Debug, thiserror::Error)]
pub enum CurateError {
    #[error("{who} saved issue #{number} after you opened it, so your change was not saved. The page now shows the issue as it is; make your change again if it is still needed.", who = "Another editor")]
    Stale { number: i64 },
    #[error("issue #{number} is {status} and can no longer change")]
    NotDraft { number: i64, status: DigestStatus },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<crate::store::StoreError> for CurateError {
    fn from(e: crate::store::StoreError) -> Self {
        CurateError::Other(e.into())
    }
}

/// The draft's items in the editors' order with their decisions, as the
/// curation page shows them, plus the current row.
pub struct Workbench {
    pub draft: DigestRow,
    pub curation: Curation,
    /// Every assembled item, left-out ones included, in order.
    pub items: Vec<Item>,
    /// The issue as it would go out now.
    pub issue: Issue,
}

/// The open issue with everything an editor decides on.
pub async fn workbench(ctx: &Ctx, list: &List) -> anyhow::Result<Workbench> {
    let draft = super::send::draft(ctx, list).await?;
    let curation = Curation::of(&draft)?;
    let issue = Issue::of(&draft)?;
    let items = if draft.status == DigestStatus::Draft {
        let assembled = super::assemble::assemble(ctx, list, crate::now_ms()).await?;
        curation.arrange(assembled.items)
    } else {
        issue.items.clone()
    };
    Ok(Workbench {
        draft,
        curation,
        items,
        issue,
    })
}

/// Applies `changes` to the open draft if it is still at `version`
/// (`None`: whatever version it is at, for the command line). Returns the
/// draft as saved.
pub async fn change(
    ctx: &Ctx,
    list: &List,
    version: Option<i64>,
    changes: &[Change],
) -> Result<DigestRow, CurateError> {
    let bench = workbench(ctx, list).await?;
    let d = &bench.draft;
    if d.status != DigestStatus::Draft {
        return Err(CurateError::NotDraft {
            number: d.number,
            status: d.status,
        });
    }
    let expected = version.unwrap_or(d.version);
    if expected != d.version {
        return Err(CurateError::Stale { number: d.number });
    }
    let mut c = bench.curation.clone();
    let mut order: Vec<i64> = bench.items.iter().map(|i| i.question_id).collect();
    let (mut subject, mut intro) = (stored_subject(ctx, d).await?, d.intro.clone());
    for change in changes {
        apply_change(
            &mut c,
            &bench.items,
            &mut order,
            &mut subject,
            &mut intro,
            change,
        )?;
    }
    if order
        != bench
            .items
            .iter()
            .map(|i| i.question_id)
            .collect::<Vec<_>>()
    {
        c.order = order;
    }
    let saved = ctx
        .store
        .save_curation(d.id, expected, &subject, &intro, &c.to_json())
        .await?;
    if !saved {
        return Err(match ctx.store.digest(d.id).await? {
            Some(now) if now.status != DigestStatus::Draft => CurateError::NotDraft {
                number: now.number,
                status: now.status,
            },
            _ => CurateError::Stale { number: d.number },
        });
    }
    Ok(super::send::draft(ctx, list).await?)
}

/// The subject as stored (empty for the default), not as shown.
async fn stored_subject(ctx: &Ctx, d: &DigestRow) -> anyhow::Result<String> {
    Ok(ctx
        .store
        .digest(d.id)
        .await?
        .map(|r| r.subject)
        .unwrap_or_default())
}

fn apply_change(
    c: &mut Curation,
    items: &[Item],
    order: &mut Vec<i64>,
    subject: &mut String,
    intro: &mut String,
    change: &Change,
) -> Result<(), CurateError> {
    let known = |order: &Vec<i64>, q: i64| {
        if order.contains(&q) {
            Ok(())
        } else {
            Err(CurateError::Invalid(format!(
                "question {q} is not in this issue; reload the page"
            )))
        }
    };
    match change {
        Change::LeaveOut(q) => {
            known(order, *q)?;
            c.left_out.insert(*q);
            c.featured.remove(q);
        }
        Change::Include(q) => {
            c.left_out.remove(q);
        }
        Change::MoveTop(q) => {
            known(order, *q)?;
            order.retain(|x| x != q);
            order.insert(0, *q);
        }
        Change::MoveUp(q) | Change::MoveDown(q) => {
            known(order, *q)?;
            let at = order.iter().position(|x| x == q).expect("known");
            let to = match change {
                Change::MoveUp(_) => at.checked_sub(1),
                _ => Some(at + 1).filter(|&t| t < order.len()),
            };
            if let Some(to) = to {
                order.swap(at, to);
            }
        }
        Change::Order(ids) => {
            let mut sorted = ids.clone();
            sorted.sort();
            let mut current = order.clone();
            current.sort();
            if sorted != current {
                return Err(CurateError::Invalid(
                    "the issue changed while you were moving questions (a question arrived); reload the page and move them again".into(),
                ));
            }
            *order = ids.clone();
        }
        Change::Feature(q, note) => {
            known(order, *q)?;
            let note = note.trim();
            if note.chars().count() > NOTE_MAX {
                return Err(CurateError::Invalid(format!(
                    "a pick's note is at most {NOTE_MAX} characters; this one has {}",
                    note.chars().count()
                )));
            }
            c.featured.insert(*q, note.to_string());
            c.left_out.remove(q);
        }
        Change::Unfeature(q) => {
            c.featured.remove(q);
        }
        Change::ShowAnswers { question, shown } => {
            known(order, *question)?;
            let item = items.iter().find(|i| i.question_id == *question);
            for a in item.map(|i| i.answers.as_slice()).unwrap_or_default() {
                if shown.contains(&a.answer_id) {
                    c.hidden_answers.remove(&a.answer_id);
                } else {
                    c.hidden_answers.insert(a.answer_id);
                }
            }
        }
        Change::Subject(s) => {
            let s = s.trim();
            if s.chars().count() > SUBJECT_MAX || s.contains(['\r', '\n']) {
                return Err(CurateError::Invalid(format!(
                    "a subject is one line of at most {SUBJECT_MAX} characters"
                )));
            }
            *subject = s.to_string();
        }
        Change::Intro(i) => {
            let i = i.trim();
            if i.chars().count() > INTRO_MAX {
                return Err(CurateError::Invalid(format!(
                    "the intro is at most {INTRO_MAX} characters; this one has {}",
                    i.chars().count()
                )));
            }
            *intro = i.replace("\r\n", "\n");
        }
    }
    Ok(())
}
