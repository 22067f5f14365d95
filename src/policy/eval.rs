//! Deciding one request against a key policy and the key's grants, as AWS does:
//! an explicit Deny wins, then any Allow (statement or grant), else denied.
//! Pure: imports only `crate::model`.

use crate::model::{Caller, EncryptionContext};

use super::actions::action_matches;
use super::document::{Effect, PolicyDocument, Statement};
use super::grant::Grant;

/// One request to authorize: who, which action (`kms:Decrypt`), with which context.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub caller: &'a Caller,
    pub action: &'a str,
    pub context: &'a EncryptionContext,
}

/// What decided a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecidedBy {
    /// `Statement[index]` of the policy.
    Statement {
        index: usize,
        sid: Option<String>,
    },
    Grant {
        grant_id: String,
    },
    /// Nothing applied: the implicit deny.
    NoMatch,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed(DecidedBy),
    Denied(DecidedBy),
}

/// Decides `request`: the first Deny statement that applies denies; otherwise the
/// first Allow statement that applies allows; otherwise the first grant that
/// applies allows; otherwise the request is denied.
pub fn evaluate(policy: &PolicyDocument, grants: &[Grant], request: &Request) -> Decision {
    let applying = |effect: Effect| {
        policy
            .statements
            .iter()
            .enumerate()
            .find(|(_, statement)| {
                statement.effect == effect && statement_applies(statement, request)
            })
            .map(|(index, statement)| DecidedBy::Statement {
                index,
                sid: statement.sid.clone(),
            })
    };
    if let Some(deny) = applying(Effect::Deny) {
        return Decision::Denied(deny);
    }
    if let Some(allow) = applying(Effect::Allow) {
        return Decision::Allowed(allow);
    }
    match grants.iter().find(|grant| grant_applies(grant, request)) {
        Some(grant) => Decision::Allowed(DecidedBy::Grant {
            grant_id: grant.grant_id.clone(),
        }),
        None => Decision::Denied(DecidedBy::NoMatch),
    }
}

/// Resources are not compared: a stored policy names only `*` or its own key
/// (`PolicyDocument::check_resources_name`).
fn statement_applies(statement: &Statement, request: &Request) -> bool {
    statement
        .principals
        .iter()
        .any(|p| p.matches(request.caller))
        && statement
            .actions
            .iter()
            .any(|pattern| action_matches(pattern, request.action))
        && statement
            .conditions
            .iter()
            .all(|condition| condition.holds(request.context))
}

fn grant_applies(grant: &Grant, request: &Request) -> bool {
    grant.grantee.matches(request.caller)
        && grant
            .operation_for(request.action)
            .is_some_and(|operation| {
                !operation.is_constrained_by_context()
                    || grant.constraints.hold_for(request.context)
            })
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed(_))
    }

    pub fn decided_by(&self) -> &DecidedBy {
        match self {
            Decision::Allowed(by) | Decision::Denied(by) => by,
        }
    }

    /// One line saying what decided, e.g.
    /// `statement 2 (Sid "Allow use of the key") allows kms:Decrypt for user:bob`.
    pub fn explain(&self, action: &str, principal: &str) -> String {
        let what = match (self, self.decided_by()) {
            (Decision::Allowed(_), DecidedBy::NoMatch) => "nothing denies".to_string(),
            (Decision::Denied(_), DecidedBy::NoMatch) => "no statement or grant allows".to_string(),
            (_, DecidedBy::Statement { index, sid }) => {
                let verb = if self.is_allowed() {
                    "allows"
                } else {
                    "explicitly denies"
                };
                match sid {
                    Some(sid) => format!("statement {index} (Sid {sid:?}) {verb}"),
                    None => format!("statement {index} {verb}"),
                }
            }
            (_, DecidedBy::Grant { grant_id }) => {
                let verb = if self.is_allowed() {
                    "allows"
                } else {
                    "denies"
                };
                format!("grant {grant_id} {verb}")
            }
        };
        format!("{what} {action} for {principal}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::test_support::{caller, context, Pairs};
    use crate::policy::{GrantConstraints, GrantOperation, Principal};

    fn decide(
        policy: &PolicyDocument,
        grants: &[Grant],
        who: &Caller,
        action: &str,
        pairs: Pairs,
    ) -> Decision {
        let context = context(pairs);
        evaluate(
            policy,
            grants,
            &Request {
                caller: who,
                action,
                context: &context,
            },
        )
    }

    fn by_statement(index: usize, sid: &str) -> DecidedBy {
        DecidedBy::Statement {
            index,
            sid: Some(sid.to_string()),
        }
    }

    const POLICY: &str = r#"{
      "Version": "2012-10-17",
      "Statement": [
        {"Sid": "DenyMallory", "Effect": "Deny", "Principal": {"Unix": "user:mallory"},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "NoTmpContexts", "Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*",
         "Condition": {"ForAnyValue:StringLike": {"kms:EncryptionContextKeys": "tmp*"}}},
        {"Sid": "Owner", "Effect": "Allow", "Principal": {"Unix": "uid:0"}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "Staff", "Effect": "Allow", "Principal": {"Unix": ["group:staff", "gid:60"]},
         "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*"},
        {"Sid": "Carol re", "Effect": "Allow", "Principal": {"Unix": "user:carol"}, "Action": "kms:Re*", "Resource": "*"},
        {"Sid": "Dave ?", "Effect": "Allow", "Principal": {"Unix": "uid:1004"}, "Action": "kms:?ncrypt", "Resource": "*"},
        {"Sid": "IT only", "Effect": "Allow", "Principal": {"Unix": "user:erin"}, "Action": "kms:Decrypt", "Resource": "*",
         "Condition": {"StringEquals": {"kms:EncryptionContext:dept": "IT"}}},
        {"Sid": "Anyone describes", "Effect": "Allow", "Principal": "*", "Action": "kms:DescribeKey", "Resource": "*"}
      ]
    }"#;

    /// The policy evaluation table: who, action, context, and what decides.
    #[test]
    fn evaluation_table() {
        let policy = PolicyDocument::parse(POLICY).unwrap();
        let root = caller(0, Some("root"), 0, &[], &["root"]);
        // alice: staff by supplementary group name.
        let alice = caller(1001, Some("alice"), 100, &[100, 50], &["users", "staff"]);
        // bob: gid 60 as primary group, no names at all.
        let bob = caller(1002, None, 60, &[], &[]);
        // frank: gid 60 as a supplementary group.
        let frank = caller(1006, Some("frank"), 100, &[60], &["users"]);
        let carol = caller(1003, Some("carol"), 100, &[], &["users"]);
        let dave = caller(1004, Some("dave"), 100, &[], &["users"]);
        let erin = caller(1005, Some("erin"), 100, &[], &["users"]);
        // mallory is staff too, but explicitly denied.
        let mallory = caller(666, Some("mallory"), 50, &[], &["staff"]);
        let it: Pairs = &[("dept", "IT")];
        let none: Pairs = &[];
        let allowed = |i, sid| Decision::Allowed(by_statement(i, sid));
        let denied = |i, sid| Decision::Denied(by_statement(i, sid));
        let no_match = Decision::Denied(DecidedBy::NoMatch);
        let table: Vec<(&Caller, &str, Pairs, Decision)> = vec![
            (&root, "kms:PutKeyPolicy", none, allowed(2, "Owner")),
            (&root, "kms:Decrypt", none, allowed(2, "Owner")),
            (&alice, "kms:Decrypt", none, allowed(3, "Staff")),
            (&alice, "kms:GenerateDataKey", none, allowed(3, "Staff")),
            (
                &alice,
                "kms:GenerateDataKeyWithoutPlaintext",
                none,
                allowed(3, "Staff"),
            ),
            (&alice, "kms:Encrypt", none, no_match.clone()),
            (&alice, "kms:PutKeyPolicy", none, no_match.clone()),
            (&bob, "kms:Decrypt", none, allowed(3, "Staff")),
            (&frank, "kms:Decrypt", none, allowed(3, "Staff")),
            (&carol, "kms:ReEncryptFrom", none, allowed(4, "Carol re")),
            (&carol, "kms:RetireGrant", none, allowed(4, "Carol re")),
            (&carol, "kms:Decrypt", none, no_match.clone()),
            (&dave, "kms:Encrypt", none, allowed(5, "Dave ?")),
            (&dave, "kms:Decrypt", none, no_match.clone()),
            (&erin, "kms:Decrypt", it, allowed(6, "IT only")),
            (&erin, "kms:Decrypt", &[("dept", "HR")], no_match.clone()),
            (&erin, "kms:Decrypt", none, no_match.clone()),
            (
                &erin,
                "kms:DescribeKey",
                none,
                allowed(7, "Anyone describes"),
            ),
            // Deny over Allow: mallory is in staff and "Anyone describes" names everyone.
            (&mallory, "kms:Decrypt", none, denied(0, "DenyMallory")),
            (&mallory, "kms:DescribeKey", none, denied(0, "DenyMallory")),
            // A conditional Deny beats even the owner's kms:*.
            (
                &root,
                "kms:Decrypt",
                &[("tmpdir", "1")],
                denied(1, "NoTmpContexts"),
            ),
            (
                &root,
                "kms:Encrypt",
                &[("tmpdir", "1")],
                allowed(2, "Owner"),
            ),
            (
                &alice,
                "kms:Decrypt",
                &[("dept", "IT"), ("tmp", "x")],
                denied(1, "NoTmpContexts"),
            ),
        ];
        for (who, action, pairs, expected) in table {
            let decision = decide(&policy, &[], who, action, pairs);
            assert_eq!(decision, expected, "{} {action} {pairs:?}", who.principal());
        }
    }

    #[test]
    fn grants_allow_what_the_policy_does_not() {
        let policy = PolicyDocument::default_for(0, &[], &[]);
        let bob = caller(1002, Some("bob"), 100, &[], &["users"]);
        let carol = caller(1003, Some("carol"), 100, &[], &["users"]);
        let grant = |id: &str, constraints| Grant {
            grant_id: id.to_string(),
            grantee: Principal::User("bob".into()),
            operations: vec![GrantOperation::Decrypt, GrantOperation::DescribeKey],
            constraints,
        };
        let mut file_a = EncryptionContext::new();
        file_a.insert("file", "a");
        let unconstrained = [grant("g-plain", GrantConstraints::default())];
        let equals = [grant(
            "g-equals",
            GrantConstraints {
                encryption_context_equals: Some(file_a.clone()),
                encryption_context_subset: None,
            },
        )];
        let subset = [grant(
            "g-subset",
            GrantConstraints {
                encryption_context_equals: None,
                encryption_context_subset: Some(file_a),
            },
        )];
        let allowed_by = |id: &str| {
            Decision::Allowed(DecidedBy::Grant {
                grant_id: id.into(),
            })
        };
        let no_match = Decision::Denied(DecidedBy::NoMatch);
        let a: Pairs = &[("file", "a")];
        let a_more: Pairs = &[("file", "a"), ("vol", "v")];
        let table: Vec<(&[Grant], &Caller, &str, Pairs, Decision)> = vec![
            (&[], &bob, "kms:Decrypt", a, no_match.clone()),
            (
                &unconstrained,
                &bob,
                "kms:Decrypt",
                &[],
                allowed_by("g-plain"),
            ),
            (&unconstrained, &bob, "kms:Encrypt", &[], no_match.clone()),
            (&unconstrained, &carol, "kms:Decrypt", &[], no_match.clone()),
            (&equals, &bob, "kms:Decrypt", a, allowed_by("g-equals")),
            (&equals, &bob, "kms:Decrypt", a_more, no_match.clone()),
            (
                &equals,
                &bob,
                "kms:Decrypt",
                &[("file", "A")],
                no_match.clone(),
            ),
            (
                &equals,
                &bob,
                "kms:Decrypt",
                &[("FILE", "a")],
                no_match.clone(),
            ),
            (&subset, &bob, "kms:Decrypt", a, allowed_by("g-subset")),
            (&subset, &bob, "kms:Decrypt", a_more, allowed_by("g-subset")),
            (
                &subset,
                &bob,
                "kms:Decrypt",
                &[("vol", "v")],
                no_match.clone(),
            ),
            (
                &subset,
                &bob,
                "kms:Decrypt",
                &[("file", "A")],
                no_match.clone(),
            ),
            // Constraints do not apply to DescribeKey, which takes no context (AWS).
            (
                &equals,
                &bob,
                "kms:DescribeKey",
                &[],
                allowed_by("g-equals"),
            ),
        ];
        for (grants, who, action, pairs, expected) in table {
            assert_eq!(
                decide(&policy, grants, who, action, pairs),
                expected,
                "{} {action} {pairs:?}",
                who.principal()
            );
        }
    }

    #[test]
    fn an_explicit_deny_beats_a_grant() {
        let policy = PolicyDocument::parse(
            r#"{"Version": "2012-10-17", "Statement": {"Sid": "DenyBob", "Effect": "Deny",
                "Principal": {"Unix": "user:bob"}, "Action": "kms:Decrypt", "Resource": "*"}}"#,
        )
        .unwrap();
        let bob = caller(1002, Some("bob"), 100, &[], &[]);
        let grants = [Grant {
            grant_id: "g".into(),
            grantee: Principal::Uid(1002),
            operations: vec![GrantOperation::Decrypt],
            constraints: GrantConstraints::default(),
        }];
        assert_eq!(
            decide(&policy, &grants, &bob, "kms:Decrypt", &[]),
            Decision::Denied(by_statement(0, "DenyBob"))
        );
        assert!(decide(
            &policy,
            &grants,
            &caller(1002, None, 1, &[], &[]),
            "kms:Decrypt",
            &[]
        )
        .is_allowed());
    }

    #[test]
    fn explanations() {
        let table = [
            (
                Decision::Allowed(by_statement(2, "Allow use of the key")),
                r#"statement 2 (Sid "Allow use of the key") allows kms:Decrypt for user:bob"#,
            ),
            (
                Decision::Denied(by_statement(0, "DenyBob")),
                r#"statement 0 (Sid "DenyBob") explicitly denies kms:Decrypt for user:bob"#,
            ),
            (
                Decision::Allowed(DecidedBy::Statement {
                    index: 1,
                    sid: None,
                }),
                "statement 1 allows kms:Decrypt for user:bob",
            ),
            (
                Decision::Allowed(DecidedBy::Grant {
                    grant_id: "1f2e3d".into(),
                }),
                "grant 1f2e3d allows kms:Decrypt for user:bob",
            ),
            (
                Decision::Denied(DecidedBy::NoMatch),
                "no statement or grant allows kms:Decrypt for user:bob",
            ),
        ];
        for (decision, expected) in table {
            assert_eq!(decision.explain("kms:Decrypt", "user:bob"), expected);
        }
        assert!(Decision::Allowed(DecidedBy::NoMatch).is_allowed());
        assert!(!Decision::Denied(DecidedBy::NoMatch).is_allowed());
    }
}
