//! Key policies and grants: the AWS policy grammar with Unix principals,
//! validation that says where a document is wrong, evaluation of a request
//! (explicit Deny > any Allow or grant > implicit deny), the console's default
//! policy and its user/administrator edits.
//!
//! Pure: imports only `crate::model`, serde and serde_json; never vault, kms,
//! audit, sys, libc or rusqlite (a test below keeps it so).

pub mod actions;
mod condition;
mod console;
mod document;
mod eval;
mod grant;
mod matching;
mod parse;
mod parse_statement;
mod principal;
mod strict_json;
#[cfg(test)]
mod test_support;

pub use actions::{action_matches, ADMIN_ACTIONS, ATTACHMENT_ACTIONS, KNOWN_ACTIONS, USER_ACTIONS};
pub use condition::{Condition, ConditionKey, ConditionOperator, SetQualifier, StringTest};
pub use console::{ADMINS_SID, ATTACHMENT_SID, DEFAULT_POLICY_ID, OWNER_SID, USERS_SID};
pub use document::{Effect, PolicyDocument, PolicyError, Statement, MAX_POLICY_BYTES};
pub use eval::{evaluate, DecidedBy, Decision, Request};
pub use grant::{Grant, GrantConstraints, GrantOperation};
pub use principal::Principal;

#[cfg(test)]
mod tests {
    /// The policy module stays pure: no path into the impure layers.
    #[test]
    fn imports_nothing_impure() {
        let sources = [
            ("mod.rs", include_str!("mod.rs")),
            ("actions.rs", include_str!("actions.rs")),
            ("condition.rs", include_str!("condition.rs")),
            ("console.rs", include_str!("console.rs")),
            ("document.rs", include_str!("document.rs")),
            ("eval.rs", include_str!("eval.rs")),
            ("grant.rs", include_str!("grant.rs")),
            ("matching.rs", include_str!("matching.rs")),
            ("parse.rs", include_str!("parse.rs")),
            ("parse_statement.rs", include_str!("parse_statement.rs")),
            ("principal.rs", include_str!("principal.rs")),
            ("strict_json.rs", include_str!("strict_json.rs")),
            ("test_support.rs", include_str!("test_support.rs")),
        ];
        // Spelled in two halves so that this file does not match itself.
        let forbidden =
            ["vault", "kms", "audit", "sys", "libc", "rusqlite"].map(|m| format!("{m}{}", "::"));
        for (file, source) in sources {
            for path in &forbidden {
                assert!(
                    !source.contains(path.as_str()),
                    "policy/{file} mentions {path}"
                );
            }
        }
    }
}
