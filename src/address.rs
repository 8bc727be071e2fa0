//! The list's addresses (`pm@`, `pm+subscribe@`, `pm+reply-<token>@`, …) and
//! the routing of an envelope recipient to a list command.

use crate::email::{AddressError, EmailAddress};

/// What a recipient address asks gazette to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Post,
    Subscribe,
    Unsubscribe,
    Help,
    Confirm(String),
    Reply(String),
    Bounce(String),
    /// An editor's reply that approves a held post (`approve-<token>`).
    Approve(String),
    /// An editor's reply that rejects a held post (`reject-<token>`).
    Reject(String),
    /// `postmaster@` or `abuse@` the list's domain (RFC 5321 4.5.1, RFC
    /// 2142): kept for the operator, never answered.
    Operator(String),
}

impl Command {
    /// The suffix after the separator, `None` for the bare list address.
    pub fn suffix(&self) -> Option<String> {
        match self {
            Command::Post => None,
            Command::Subscribe => Some("subscribe".into()),
            Command::Unsubscribe => Some("unsubscribe".into()),
            Command::Help => Some("help".into()),
            Command::Confirm(t) => Some(format!("confirm-{t}")),
            Command::Reply(t) => Some(format!("reply-{t}")),
            Command::Bounce(t) => Some(format!("bounce-{t}")),
            Command::Approve(t) => Some(format!("approve-{t}")),
            Command::Reject(t) => Some(format!("reject-{t}")),
            Command::Operator(_) => None,
        }
    }

    fn from_suffix(suffix: &str) -> Option<Command> {
        let lower = suffix.to_ascii_lowercase();
        let cmd = match lower.as_str() {
            "subscribe" | "join" => Command::Subscribe,
            "unsubscribe" | "leave" => Command::Unsubscribe,
            "help" | "request" => Command::Help,
            _ => {
                let (verb, token) = lower.split_once('-')?;
                if token.is_empty() {
                    return None;
                }
                let token = token.to_string();
                match verb {
                    "confirm" => Command::Confirm(token),
                    "reply" => Command::Reply(token),
                    "bounce" => Command::Bounce(token),
                    "approve" => Command::Approve(token),
                    "reject" => Command::Reject(token),
                    _ => return None,
                }
            }
        };
        Some(cmd)
    }

    /// A short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Post => "post",
            Command::Subscribe => "subscribe",
            Command::Unsubscribe => "unsubscribe",
            Command::Help => "help",
            Command::Confirm(_) => "confirm",
            Command::Reply(_) => "reply",
            Command::Bounce(_) => "bounce",
            Command::Approve(_) => "approve",
            Command::Reject(_) => "reject",
            Command::Operator(_) => "operator",
        }
    }
}

/// A list's posting address split once into its parts, with the separator
/// used for sub-addresses (`+` by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListAddress {
    local: String,
    domain: String,
    separator: char,
}

impl ListAddress {
    pub fn parse(address: &str, separator: char) -> Result<Self, AddressError> {
        let email = EmailAddress::parse(address)?;
        if email.local_part().contains(separator) {
            return Err(AddressError {
                input: address.to_string(),
                why: "a list address cannot contain the sub-address separator",
            });
        }
        Ok(ListAddress {
            local: email.local_part().to_ascii_lowercase(),
            domain: email.domain().to_ascii_lowercase(),
            separator,
        })
    }

    /// A list address as stored, split without the separator check:
    /// stored addresses were checked when created, and one that clashes
    /// with a separator changed since is refused at start-up
    /// ([`crate::app::Ctx::open`]), not by a panic mid-request.
    pub fn stored(address: &str, separator: char) -> Self {
        let (local, domain) = address.rsplit_once('@').unwrap_or((address, ""));
        ListAddress {
            local: local.to_ascii_lowercase(),
            domain: domain.to_ascii_lowercase(),
            separator,
        }
    }

    pub fn posting(&self) -> String {
        format!("{}@{}", self.local, self.domain)
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The address for a command, e.g. `pm+reply-abc@lists.example.org`.
    pub fn for_command(&self, command: &Command) -> String {
        if let Command::Operator(local) = command {
            return format!("{local}@{}", self.domain);
        }
        match command.suffix() {
            None => self.posting(),
            Some(s) => format!("{}{}{}@{}", self.local, self.separator, s, self.domain),
        }
    }

    /// `List-Id` value (RFC 2919): the posting address with `@` turned into `.`.
    pub fn list_id(&self) -> String {
        format!("{}.{}", self.local, self.domain)
    }

    /// The command a recipient addresses on this list, or `None` when the
    /// recipient is not one of this list's addresses.
    pub fn route(&self, recipient: &str) -> Option<Command> {
        let email = EmailAddress::parse(recipient).ok()?;
        if !email.domain().eq_ignore_ascii_case(&self.domain) {
            return None;
        }
        let local = email.local_part();
        if local.eq_ignore_ascii_case(&self.local) {
            return Some(Command::Post);
        }
        for role in ["postmaster", "abuse"] {
            if local.eq_ignore_ascii_case(role) {
                return Some(Command::Operator(role.into()));
            }
        }
        let (base, suffix) = local.split_once(self.separator)?;
        if !base.eq_ignore_ascii_case(&self.local) {
            return None;
        }
        Command::from_suffix(suffix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pm() -> ListAddress {
        ListAddress::parse("pm@lists.example.org", '+').unwrap()
    }

    #[test]
    fn routes_every_command() {
        let l = pm();
        assert_eq!(l.route("pm@lists.example.org"), Some(Command::Post));
        assert_eq!(l.route("PM@Lists.Example.org"), Some(Command::Post));
        assert_eq!(
            l.route("pm+subscribe@lists.example.org"),
            Some(Command::Subscribe)
        );
        assert_eq!(
            l.route("pm+unsubscribe@lists.example.org"),
            Some(Command::Unsubscribe)
        );
        assert_eq!(l.route("pm+help@lists.example.org"), Some(Command::Help));
        assert_eq!(
            l.route("pm+reply-ABC234@lists.example.org"),
            Some(Command::Reply("abc234".into()))
        );
        assert_eq!(
            l.route("pm+confirm-xyz@lists.example.org"),
            Some(Command::Confirm("xyz".into()))
        );
        assert_eq!(
            l.route("pm+bounce-q@lists.example.org"),
            Some(Command::Bounce("q".into()))
        );
        assert_eq!(
            l.route("Postmaster@lists.example.org"),
            Some(Command::Operator("postmaster".into()))
        );
        assert_eq!(
            l.route("abuse@lists.example.org"),
            Some(Command::Operator("abuse".into()))
        );
    }

    #[test]
    fn refuses_other_addresses() {
        let l = pm();
        for r in [
            "pm@example.org",
            "pmx@lists.example.org",
            "pm+nonsense@lists.example.org",
            "pm+reply-@lists.example.org",
            "other+subscribe@lists.example.org",
            "garbage",
        ] {
            assert_eq!(l.route(r), None, "{r}");
        }
    }

    #[test]
    fn builds_command_addresses_that_route_back() {
        let l = pm();
        for c in [
            Command::Post,
            Command::Subscribe,
            Command::Reply("abc".into()),
        ] {
            assert_eq!(l.route(&l.for_command(&c)), Some(c));
        }
        assert_eq!(l.list_id(), "pm.lists.example.org");
    }
}
