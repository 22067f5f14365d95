//! Unix principals, as key policies and grants name them:
//! `user:NAME`, `uid:N`, `group:NAME`, `gid:N` and `*`.
//! Pure: imports only `crate::model`.

use std::fmt;
use std::str::FromStr;

use crate::model::{Caller, ParseError};

/// Who a statement or grant is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Principal {
    /// A user by login name.
    User(String),
    /// A user by uid (also for uids without a name).
    Uid(u32),
    /// The members of a group by name, as primary or supplementary group.
    Group(String),
    /// The members of a group by gid, as primary or supplementary group.
    Gid(u32),
    /// Everyone.
    Any,
}

/// The longest user or group name Unix login tools accept.
pub const MAX_NAME_LEN: usize = 32;

const FORMS: &str = "expected user:NAME, uid:N, group:NAME, gid:N or *";

impl Principal {
    /// Whether `caller` is this principal (or a member of this group).
    pub fn matches(&self, caller: &Caller) -> bool {
        match self {
            Principal::User(name) => caller.user_name.as_deref() == Some(name.as_str()),
            Principal::Uid(uid) => caller.uid == *uid,
            Principal::Group(name) => caller.group_names.iter().any(|group| group == name),
            Principal::Gid(gid) => caller.in_gid(*gid),
            Principal::Any => true,
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::User(name) => write!(f, "user:{name}"),
            Principal::Uid(uid) => write!(f, "uid:{uid}"),
            Principal::Group(name) => write!(f, "group:{name}"),
            Principal::Gid(gid) => write!(f, "gid:{gid}"),
            Principal::Any => f.write_str("*"),
        }
    }
}

impl FromStr for Principal {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Principal, ParseError> {
        if text == "*" {
            return Ok(Principal::Any);
        }
        let invalid = |why: &str| ParseError(format!("invalid principal {text:?}: {why}"));
        let Some((kind, rest)) = text.split_once(':') else {
            return Err(invalid(FORMS));
        };
        match kind {
            "user" => login_name(rest).map(Principal::User).map_err(invalid),
            "group" => login_name(rest).map(Principal::Group).map_err(invalid),
            "uid" => numeric_id(rest).map(Principal::Uid).map_err(invalid),
            "gid" => numeric_id(rest).map(Principal::Gid).map_err(invalid),
            _ => Err(invalid(FORMS)),
        }
    }
}

/// A user or group name by the Unix login rules: `[A-Za-z0-9._-]`, at most
/// [`MAX_NAME_LEN`] characters, not beginning with `-`, and an optional final `$`
/// (machine accounts).
fn login_name(name: &str) -> Result<String, &'static str> {
    let body = name.strip_suffix('$').unwrap_or(name);
    if body.is_empty() {
        return Err("the name is empty");
    }
    if name.len() > MAX_NAME_LEN {
        return Err("the name is longer than 32 characters");
    }
    if body.starts_with('-') {
        return Err("the name must not begin with '-'");
    }
    if !body
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err("a name may only contain A-Z, a-z, 0-9, '.', '_' and '-', and end in '$'");
    }
    Ok(name.to_string())
}

/// A decimal uid or gid; only digits (no sign, no spaces).
fn numeric_id(digits: &str) -> Result<u32, &'static str> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected a decimal number after the colon");
    }
    digits
        .parse()
        .map_err(|_| "the number is larger than 4294967295")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::test_support::caller;

    #[test]
    fn parses_and_displays_every_form() {
        let table: &[(&str, Principal)] = &[
            ("user:alice", Principal::User("alice".into())),
            (
                "user:svc.backup-1_x",
                Principal::User("svc.backup-1_x".into()),
            ),
            ("user:HOST01$", Principal::User("HOST01$".into())),
            ("uid:0", Principal::Uid(0)),
            ("uid:4294967295", Principal::Uid(u32::MAX)),
            ("group:staff", Principal::Group("staff".into())),
            ("gid:50", Principal::Gid(50)),
            ("*", Principal::Any),
        ];
        for (text, expected) in table {
            let parsed: Principal = text.parse().unwrap();
            assert_eq!(&parsed, expected, "{text}");
            assert_eq!(parsed.to_string(), *text);
        }
        let longest = format!("user:{}", "a".repeat(MAX_NAME_LEN));
        assert!(longest.parse::<Principal>().is_ok());
    }

    #[test]
    fn refuses_malformed_principals_with_a_reason() {
        let table: &[(&str, &str)] = &[
            ("alice", FORMS),
            ("usr:alice", FORMS),
            ("User:alice", FORMS),
            ("**", FORMS),
            ("", FORMS),
            ("user:", "the name is empty"),
            ("user:$", "the name is empty"),
            ("user:-rf", "must not begin with '-'"),
            ("user:al ice", "may only contain"),
            ("user:al$ice", "may only contain"),
            ("group:wheel/x", "may only contain"),
            ("user:émile", "may only contain"),
            ("uid:", "decimal number"),
            ("uid:+5", "decimal number"),
            ("uid: 5", "decimal number"),
            ("gid:-1", "decimal number"),
            ("uid:4294967296", "larger than"),
        ];
        for (text, reason) in table {
            let err = text.parse::<Principal>().unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("invalid principal {text:?}: ")),
                "{err}"
            );
            assert!(err.contains(reason), "{text}: {err}");
        }
        let too_long = format!("user:{}", "a".repeat(MAX_NAME_LEN + 1));
        assert!(too_long
            .parse::<Principal>()
            .unwrap_err()
            .to_string()
            .contains("longer than 32"));
    }

    #[test]
    fn the_five_forms_are_listed_in_the_error() {
        let err = "bob".parse::<Principal>().unwrap_err().to_string();
        for form in ["user:NAME", "uid:N", "group:NAME", "gid:N", "*"] {
            assert!(err.contains(form), "{err}");
        }
    }

    #[test]
    fn matching_by_name_uid_group_and_gid() {
        // bob: uid 1001, primary group 100 (users), supplementary 50 (staff) and 27 (sudo, unnamed here).
        let bob = caller(1001, Some("bob"), 100, &[50, 27], &["users", "staff"]);
        let nameless = caller(2000, None, 2000, &[], &[]);
        let table: &[(&str, &Caller, bool)] = &[
            ("user:bob", &bob, true),
            ("user:alice", &bob, false),
            ("user:bob", &nameless, false),
            ("uid:1001", &bob, true),
            ("uid:1002", &bob, false),
            ("uid:2000", &nameless, true),
            ("group:users", &bob, true), // primary, by name
            ("group:staff", &bob, true), // supplementary, by name
            ("group:wheel", &bob, false),
            ("gid:100", &bob, true), // primary
            ("gid:27", &bob, true),  // supplementary
            ("gid:0", &bob, false),
            ("gid:2000", &nameless, true),
            ("*", &bob, true),
            ("*", &nameless, true),
        ];
        for (principal, who, expected) in table {
            let principal: Principal = principal.parse().unwrap();
            assert_eq!(
                principal.matches(who),
                *expected,
                "{principal} vs uid {}",
                who.uid
            );
        }
    }
}
