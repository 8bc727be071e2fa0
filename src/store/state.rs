//! The states and kinds the store keeps as text, each a Rust enum with
//! exactly one spelling per variant. Reading a spelling the code does not
//! know is an error naming the column and the value, never a silent
//! default: a row written by a newer gazette, or edited by hand, stops the
//! operation that read it instead of being misread.

/// A stored value no variant spells.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{column} holds `{value}`, which this gazette does not know (it knows {known})")]
pub struct UnknownState {
    pub column: &'static str,
    pub value: String,
    pub known: String,
}

/// What every stored enum offers; implemented by [`stored_enum!`].
pub trait StoredEnum: Sized + Copy + 'static {
    /// `table.column`, for error messages.
    const COLUMN: &'static str;
    const ALL: &'static [Self];
    fn as_str(self) -> &'static str;

    /// The variant a stored (or typed) spelling names.
    fn parse(text: &str) -> Result<Self, UnknownState> {
        Self::ALL
            .iter()
            .copied()
            .find(|v| v.as_str() == text)
            .ok_or_else(|| UnknownState {
                column: Self::COLUMN,
                value: text.to_string(),
                known: Self::spellings(),
            })
    }

    /// "a, b or c", for messages.
    fn spellings() -> String {
        let all: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
        match all.split_last() {
            Some((last, [])) => last.to_string(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    }
}

macro_rules! stored_enum {
    ($(#[$meta:meta])* $name:ident in $column:literal {
        $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl StoredEnum for $name {
            const COLUMN: &'static str = $column;
            const ALL: &'static [Self] = &[$($name::$variant),+];
            fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                StoredEnum::as_str(self)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownState;
            fn from_str(s: &str) -> Result<Self, UnknownState> {
                <Self as StoredEnum>::parse(s)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

stored_enum! {
    /// Where a subscription stands.
    MemberStatus in "members.status" {
        /// Asked to join, not confirmed yet.
        Pending = "pending",
        Active = "active",
        Unsubscribed = "unsubscribed",
        /// Delivery stopped because mail to the address keeps bouncing.
        Disabled = "disabled",
        /// Not a member: someone whose post an editor approved, kept so
        /// the post has an author. Never mailed as a member; subscribing
        /// later makes them pending like anyone else.
        Guest = "guest",
    }
}

stored_enum! {
    /// How an active member gets mail.
    DeliveryMode in "members.mode" {
        /// The digest only.
        Digest = "digest",
        /// Every question and answer as it arrives.
        Every = "every",
        /// Nothing for now.
        Paused = "paused",
    }
}

stored_enum! {
    /// Where one delivery stands.
    OutboxStatus in "outbox.status" {
        Queued = "queued",
        /// Leased by a worker.
        Sending = "sending",
        /// The relay accepted it (250).
        Sent = "sent",
        Failed = "failed",
        /// No longer meant to be sent (the member left, or an editor
        /// cancelled the issue).
        Cancelled = "cancelled",
        /// Held back with its issue (`gazette digest pause`): not claimed
        /// until the issue is resumed.
        Paused = "paused",
    }
}

stored_enum! {
    /// What one delivery carries.
    OutboxKind in "outbox.kind" {
        Digest = "digest",
        /// A question, to an every-post member.
        Post = "post",
        /// An answer, to an every-post member.
        Answer = "answer",
        /// A notice (confirmation, welcome, acknowledgement, ...).
        Notice = "notice",
    }
}

stored_enum! {
    /// What became of an inbound message.
    InboundStatus in "inbound.status" {
        /// Stored, not handled yet (or handling failed for a passing reason).
        Received = "received",
        Accepted = "accepted",
        /// Kept for an editor or the operator.
        Held = "held",
        Ignored = "ignored",
        Rejected = "rejected",
        /// Handling failed attempt after attempt: parked with the last
        /// reason, until an operator retries it.
        Failed = "failed",
    }
}

stored_enum! {
    /// What an inbound message turned out to be.
    InboundKind in "inbound.kind" {
        /// Not classified yet.
        Unknown = "unknown",
        Ordinary = "ordinary",
        Bounce = "bounce",
        Complaint = "complaint",
        AutoReply = "auto-reply",
        Unparseable = "unparseable",
    }
}

stored_enum! {
    /// The life of a digest issue.
    DigestStatus in "digests.status" {
        /// Re-assembled on demand, editable.
        Draft = "draft",
        /// Content and subject frozen, waiting for its send time.
        Approved = "approved",
        /// Expanded into deliveries.
        Sent = "sent",
        /// Nothing new: no mail went out.
        Skipped = "skipped",
    }
}

stored_enum! {
    /// What an editor decided about a sent issue's deliveries.
    IssueDelivery in "digests.delivery" {
        /// Queued and sent as usual.
        Running = "running",
        /// Held: nothing more is queued or claimed until resumed.
        Paused = "paused",
        /// Stopped for good: what was not sent yet never will be.
        Cancelled = "cancelled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T: StoredEnum + std::fmt::Debug + PartialEq>() {
        for v in T::ALL {
            assert_eq!(T::parse(v.as_str()).unwrap(), *v);
        }
        let err = T::parse("Nonsense").unwrap_err();
        assert_eq!(err.column, T::COLUMN);
        assert!(err.to_string().contains("`Nonsense`"), "{err}");
    }

    #[test]
    fn every_state_has_one_spelling_and_unknown_ones_are_errors() {
        round_trips::<MemberStatus>();
        round_trips::<DeliveryMode>();
        round_trips::<OutboxStatus>();
        round_trips::<OutboxKind>();
        round_trips::<InboundStatus>();
        round_trips::<InboundKind>();
        round_trips::<DigestStatus>();
        round_trips::<IssueDelivery>();
        assert_eq!(
            MemberStatus::parse("ACTIVE").unwrap_err().to_string(),
            "members.status holds `ACTIVE`, which this gazette does not know (it knows pending, active, unsubscribed, disabled or guest)"
        );
    }
}
