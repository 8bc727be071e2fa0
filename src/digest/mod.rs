//! The digest: assembling an issue from the list's questions and answers,
//! curating it (approve), sending it on a schedule, and the schedule itself.

pub mod assemble;
pub mod curate;
pub mod schedule;
pub mod scheduler;
pub mod send;
pub mod sending;

use serde::{Deserialize, Serialize};

/// The frozen content of one issue, stored as JSON in `digests.content`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// Not carried by any earlier issue.
    New,
    /// Carried earlier, with answers no issue carried yet.
    Updated,
    /// Carried earlier and still without any answer.
    Unanswered,
}

impl Section {
    pub fn title(self) -> &'static str {
        match self {
            Section::New => "New questions",
            Section::Updated => "New answers to earlier questions",
            Section::Unanswered => "Still waiting for an answer",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub question_id: i64,
    pub section: Section,
    pub subject: String,
    pub body: String,
    pub author: String,
    pub asked_at: i64,
    pub answers: Vec<ItemAnswer>,
    /// An editor's pick, shown first in its place with [`Item::note`].
    #[serde(default)]
    pub featured: bool,
    /// The editor's note on a pick (may be empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemAnswer {
    pub answer_id: i64,
    pub author: String,
    pub body: String,
    pub answered_at: i64,
    /// Not carried by an earlier issue.
    pub new: bool,
}

impl Issue {
    /// The content of issue `d`. Content that does not parse is an error,
    /// never an empty issue: an empty issue would be skipped, and the
    /// questions it carried lost from the digest without a word.
    pub fn of(d: &crate::store::digests::DigestRow) -> anyhow::Result<Issue> {
        serde_json::from_str(&d.content).map_err(|e| {
            anyhow::anyhow!(
                "issue #{} (digests.id {}) has content gazette cannot read ({e}); it is kept as it is, nothing was sent or skipped. Restore the row from a backup, or cancel the issue",
                d.number,
                d.id
            )
        })
    }
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("issues serialise")
    }
    /// Nothing new: no new question and no new answer. Still-unanswered
    /// questions ride along with news but never make an issue on their own,
    /// so a quiet week sends nothing rather than a rerun.
    pub fn is_empty(&self) -> bool {
        self.items.iter().all(|i| i.section == Section::Unanswered)
    }
    /// New questions (not carried before) in this issue.
    pub fn new_questions(&self) -> usize {
        self.items
            .iter()
            .filter(|i| i.section == Section::New)
            .count()
    }
    /// Answers no earlier issue carried, in this issue.
    pub fn new_answers(&self) -> usize {
        self.items
            .iter()
            .flat_map(|i| &i.answers)
            .filter(|a| a.new)
            .count()
    }
    /// A fingerprint of the content: what an editor saw, so approving
    /// refuses content that changed since.
    pub fn fingerprint(&self) -> String {
        crate::tokens::sha256_hex(self.to_json().as_bytes())[..16].to_string()
    }
}

/// "1 new question", "2 new questions": a count with its noun in the
/// right number (English plural in `s` unless given).
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The one-line summary of an issue: "This issue: 2 new questions, 1 new
/// answer". A count of nothing is left out ("This issue: 1 new answer").
pub fn summary_line(issue: &Issue) -> String {
    let q = issue.new_questions();
    let a = issue.new_answers();
    let waiting = issue.items.len()
        - q
        - issue
            .items
            .iter()
            .filter(|i| i.section == Section::Updated)
            .count();
    let mut parts = Vec::new();
    if q > 0 {
        parts.push(plural(q, "new question", "new questions"));
    }
    if a > 0 {
        parts.push(plural(a, "new answer", "new answers"));
    }
    if waiting > 0 {
        parts.push(plural(
            waiting,
            "question still waiting",
            "questions still waiting",
        ));
    }
    format!("This issue: {}", parts.join(", "))
}

/// How a member is named in mail: their name, else their address's local part.
pub fn display_name(name: &str, email: &str) -> String {
    if !name.trim().is_empty() {
        name.trim().to_string()
    } else {
        email.split('@').next().unwrap_or(email).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(section: Section, answers: usize) -> Item {
        Item {
            question_id: 1,
            section,
            subject: "S".into(),
            body: "B".into(),
            author: "A".into(),
            asked_at: 0,
            answers: (0..answers)
                .map(|n| ItemAnswer {
                    answer_id: n as i64,
                    author: "A".into(),
                    body: "B".into(),
                    answered_at: 0,
                    new: true,
                })
                .collect(),
            featured: false,
            note: String::new(),
        }
    }

    #[test]
    fn the_summary_counts_what_is_there_in_the_right_number() {
        let issue = |items| Issue { items };
        assert_eq!(
            summary_line(&issue(vec![item(Section::New, 0)])),
            "This issue: 1 new question"
        );
        assert_eq!(
            summary_line(&issue(vec![item(Section::Updated, 1)])),
            "This issue: 1 new answer"
        );
        assert_eq!(
            summary_line(&issue(vec![
                item(Section::New, 2),
                item(Section::New, 0),
                item(Section::Unanswered, 0)
            ])),
            "This issue: 2 new questions, 2 new answers, 1 question still waiting"
        );
    }
}
