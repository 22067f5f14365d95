//! Builders shared by the policy module's unit tests.

use crate::model::{Caller, EncryptionContext};
use crate::policy::PolicyDocument;

/// Encryption-context pairs as test tables write them.
pub(crate) type Pairs<'a> = &'a [(&'a str, &'a str)];

pub(crate) fn context(pairs: Pairs) -> EncryptionContext {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A caller with a primary group and supplementary groups; names are optional.
pub(crate) fn caller(
    uid: u32,
    user_name: Option<&str>,
    gid: u32,
    groups: &[u32],
    group_names: &[&str],
) -> Caller {
    Caller {
        uid,
        user_name: user_name.map(str::to_string),
        gid,
        groups: groups.to_vec(),
        group_names: group_names.iter().map(|g| g.to_string()).collect(),
        pid: None,
        comm: None,
        exe: None,
    }
}

/// A document around one statement given as JSON text.
pub(crate) fn with_statement(statement: &str) -> String {
    format!(r#"{{"Version": "2012-10-17", "Statement": [{statement}]}}"#)
}

/// Why `json` is refused, as the user reads it.
pub(crate) fn error_of(json: &str) -> String {
    PolicyDocument::parse(json).unwrap_err().to_string()
}
