//! Key ids, ARNs and alias names, with AWS's syntax rules.

use std::fmt;
use std::str::FromStr;

/// kmsfs ARNs read `arn:kmsfs:kms:local:ACCOUNT:key/ID` (AWS: `arn:aws:kms:REGION:ACCOUNT:key/ID`).
pub const ARN_PARTITION: &str = "kmsfs";
/// The one region of a host.
pub const REGION: &str = "local";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

/// A key id: a UUID, printed in its hyphenated lowercase form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(uuid::Uuid);

impl KeyId {
    pub fn new_random() -> KeyId {
        KeyId(uuid::Uuid::new_v4())
    }

    pub fn from_bytes(bytes: [u8; 16]) -> KeyId {
        KeyId(uuid::Uuid::from_bytes(bytes))
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    /// This key's ARN in the given account.
    pub fn arn(&self, account: &str) -> Arn {
        Arn {
            account: account.to_string(),
            resource: format!("key/{self}"),
        }
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.hyphenated())
    }
}

impl FromStr for KeyId {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<KeyId, ParseError> {
        // Only the canonical hyphenated form, as AWS prints key ids.
        if s.len() != 36 {
            return Err(ParseError(format!("invalid key id '{s}': expected a UUID")));
        }
        uuid::Uuid::parse_str(s)
            .map(KeyId)
            .map_err(|_| ParseError(format!("invalid key id '{s}': expected a UUID")))
    }
}

/// An ARN of a key or an alias: `arn:kmsfs:kms:local:ACCOUNT:RESOURCE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arn {
    pub account: String,
    /// `key/ID` or `alias/NAME`.
    pub resource: String,
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{ARN_PARTITION}:kms:{REGION}:{}:{}",
            self.account, self.resource
        )
    }
}

impl FromStr for Arn {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Arn, ParseError> {
        let bad = || {
            ParseError(format!("invalid ARN '{s}': expected arn:{ARN_PARTITION}:kms:{REGION}:ACCOUNT:key/ID or ...:alias/NAME"))
        };
        let mut parts = s.splitn(6, ':');
        let (arn, partition, service, region, account, resource) = (
            parts.next().ok_or_else(bad)?,
            parts.next().ok_or_else(bad)?,
            parts.next().ok_or_else(bad)?,
            parts.next().ok_or_else(bad)?,
            parts.next().ok_or_else(bad)?,
            parts.next().ok_or_else(bad)?,
        );
        if arn != "arn"
            || partition != ARN_PARTITION
            || service != "kms"
            || region != REGION
            || account.is_empty()
        {
            return Err(bad());
        }
        if !(resource.starts_with("key/") || resource.starts_with("alias/")) {
            return Err(bad());
        }
        Ok(Arn {
            account: account.to_string(),
            resource: resource.to_string(),
        })
    }
}

/// An alias name with AWS's rules: `alias/` prefix, `[A-Za-z0-9/_-]`, 1..=256
/// characters in all, `alias/aws/` reserved.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AliasName(String);

impl AliasName {
    pub const MAX_LEN: usize = 256;

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn arn(&self, account: &str) -> Arn {
        Arn {
            account: account.to_string(),
            resource: self.0.clone(),
        }
    }
}

impl fmt::Display for AliasName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for AliasName {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<AliasName, ParseError> {
        let Some(rest) = s.strip_prefix("alias/") else {
            return Err(ParseError(format!(
                "alias name '{s}' must begin with 'alias/'"
            )));
        };
        if rest.is_empty() {
            return Err(ParseError(
                "alias name 'alias/' needs a name after the prefix".into(),
            ));
        }
        if s.len() > AliasName::MAX_LEN {
            return Err(ParseError(format!(
                "alias name is {} characters long; at most {} are allowed",
                s.len(),
                AliasName::MAX_LEN
            )));
        }
        if let Some(bad) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-')))
        {
            return Err(ParseError(format!("alias name '{s}' contains '{bad}': only A-Z, a-z, 0-9, '/', '_' and '-' are allowed")));
        }
        if s.starts_with("alias/aws/") {
            return Err(ParseError(format!("alias name '{s}' is reserved: names beginning with 'alias/aws/' belong to AWS managed keys")));
        }
        Ok(AliasName(s.to_string()))
    }
}

/// How a request names a key: any of the four forms AWS accepts for `--key-id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyRef {
    Id(KeyId),
    Alias(AliasName),
}

impl KeyRef {
    /// Parses a key id, key ARN, alias name or alias ARN. ARNs must name `account`.
    pub fn parse(s: &str, account: &str) -> Result<KeyRef, ParseError> {
        if s.starts_with("arn:") {
            let arn: Arn = s.parse()?;
            if arn.account != account {
                return Err(ParseError(format!(
                    "ARN '{s}' names account {} but this vault is account {account}",
                    arn.account
                )));
            }
            if let Some(id) = arn.resource.strip_prefix("key/") {
                return Ok(KeyRef::Id(id.parse()?));
            }
            return Ok(KeyRef::Alias(arn.resource.parse()?));
        }
        if s.starts_with("alias/") {
            return Ok(KeyRef::Alias(s.parse()?));
        }
        s.parse().map(KeyRef::Id).map_err(|_| {
            ParseError(format!("invalid key id '{s}': expected a key id (UUID), key ARN, alias name (alias/NAME) or alias ARN"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_rules() {
        assert!("alias/myFirstKey".parse::<AliasName>().is_ok());
        assert!("alias/a/b_c-d9".parse::<AliasName>().is_ok());
        assert!("myFirstKey".parse::<AliasName>().is_err());
        assert!("alias/".parse::<AliasName>().is_err());
        assert!("alias/has space".parse::<AliasName>().is_err());
        assert!("alias/aws/s3".parse::<AliasName>().is_err());
        let long = format!("alias/{}", "a".repeat(250));
        assert!(long.parse::<AliasName>().is_ok());
        let too_long = format!("alias/{}", "a".repeat(251));
        assert!(too_long.parse::<AliasName>().is_err());
    }

    #[test]
    fn key_ref_accepts_all_four_forms() {
        let id = KeyId::new_random();
        let account = "123456789012";
        assert_eq!(
            KeyRef::parse(&id.to_string(), account).unwrap(),
            KeyRef::Id(id)
        );
        assert_eq!(
            KeyRef::parse(&id.arn(account).to_string(), account).unwrap(),
            KeyRef::Id(id)
        );
        let alias: AliasName = "alias/x".parse().unwrap();
        assert_eq!(
            KeyRef::parse("alias/x", account).unwrap(),
            KeyRef::Alias(alias.clone())
        );
        assert_eq!(
            KeyRef::parse(&alias.arn(account).to_string(), account).unwrap(),
            KeyRef::Alias(alias)
        );
        assert!(KeyRef::parse(&id.arn("999999999999").to_string(), account).is_err());
        assert!(KeyRef::parse("not-a-key", account).is_err());
    }
}
