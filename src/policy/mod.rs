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
