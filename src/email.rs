//! Email addresses as a parsed newtype, so the rest of the code never handles
//! an unchecked string where an address is meant. The one parser for member,
//! editor and list addresses: it accepts only what lettre will also send to,
//! so an address accepted here never fails permanently when mail is composed.

use std::fmt;

/// A syntactically valid `local@domain` address, as the member wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "`{input}` is not a usable email address: {why} (expected something like alice@example.org)"
)]
pub struct AddressError {
    pub input: String,
    pub why: &'static str,
}

impl EmailAddress {
    /// Accepts a bare address or one in angle brackets; keeps the case of the
    /// local part because some mailboxes are case-sensitive, but compares by [`key`](Self::key).
    pub fn parse(input: &str) -> Result<Self, AddressError> {
        let trimmed = input.trim();
        let s = trimmed
            .strip_prefix('<')
            .and_then(|s| s.strip_suffix('>'))
            .unwrap_or(trimmed);
        let fail = |why| {
            Err(AddressError {
                input: input.to_string(),
                why,
            })
        };
        let Some((local, domain)) = s.rsplit_once('@') else {
            return fail("it has no @");
        };
        if local.is_empty() || domain.is_empty() {
            return fail("the part before or after @ is empty");
        }
        if local.len() > 64 {
            return fail("the part before @ is longer than 64 characters");
        }
        if s.len() > 254 {
            return fail("it is longer than 254 characters");
        }
        if s.chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\\\"".contains(c))
        {
            return fail("it contains spaces or characters not allowed in an address");
        }
        if domain.starts_with('.') || domain.ends_with('.') || domain.contains("..") {
            return fail("the domain is malformed");
        }
        // lettre decides what the outbound path accepts; agreeing with it
        // here is what keeps a stored address sendable.
        match s.parse::<lettre::Address>() {
            Ok(_) => Ok(EmailAddress(s.to_string())),
            Err(lettre::address::AddressError::InvalidUser) => fail(
                "the part before @ is not a valid mailbox name (a dot at its start or end, two dots in a row, or a character mail does not allow)",
            ),
            Err(lettre::address::AddressError::InvalidDomain) => {
                fail("the part after @ is not a valid domain name")
            }
            Err(_) => fail("it is not an address mail can be sent to"),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The comparison key: addresses differing only in case are one member.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }

    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map(|(l, _)| l).unwrap_or("")
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever this parser accepts, lettre composes and sends to.
    #[test]
    fn agrees_with_lettre() {
        for ok in [
            "a@x.org",
            "first.last+tag@sub.example.co.uk",
            "o'brien@example.ie",
            "_under@x.org",
        ] {
            let e = EmailAddress::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert!(e.as_str().parse::<lettre::Address>().is_ok(), "{ok}");
        }
    }

    #[test]
    fn accepts_plain_and_bracketed() {
        assert_eq!(
            EmailAddress::parse("<Ann@Example.org>").unwrap().as_str(),
            "Ann@Example.org"
        );
        assert_eq!(
            EmailAddress::parse(" ann@example.org ").unwrap().key(),
            "ann@example.org"
        );
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "ann",
            "@x.org",
            "ann@",
            "a b@x.org",
            "ann@x..org",
            "a<b@x.org",
            ".a@x.org",
            "a.@x.org",
            "a..b@x.org",
            "a@-x.org",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad}");
        }
        let long = format!("{}@x.org", "a".repeat(65));
        assert!(EmailAddress::parse(&long).is_err());
    }
}
