//! The console's default key policy and the statement edits behind
//! `policy add-user/remove-user/add-admin/remove-admin`.
//! Pure: imports nothing outside `policy`.

use super::actions::{ADMIN_ACTIONS, ATTACHMENT_ACTIONS, USER_ACTIONS};
use super::document::{PolicyDocument, Statement};
use super::Principal;

/// The statement that keeps the key manageable: the vault owner may do everything.
pub const OWNER_SID: &str = "Enable vault owner permissions";
pub const ADMINS_SID: &str = "Allow access for Key Administrators";
pub const USERS_SID: &str = "Allow use of the key";
pub const ATTACHMENT_SID: &str = "Allow attachment of persistent resources";

/// The Id of every default policy.
pub const DEFAULT_POLICY_ID: &str = "key-default-1";

/// The console statements that list one role's principals.
#[derive(Clone, Copy)]
struct Role {
    sid: &'static str,
    actions: &'static [&'static str],
}

const ADMINS: [Role; 1] = [Role {
    sid: ADMINS_SID,
    actions: ADMIN_ACTIONS,
}];

const USERS: [Role; 2] = [
    Role {
        sid: USERS_SID,
        actions: USER_ACTIONS,
    },
    Role {
        sid: ATTACHMENT_SID,
        actions: ATTACHMENT_ACTIONS,
    },
];

impl PolicyDocument {
    /// The console's default policy: the owner may do `kms:*`; administrators and
    /// users get their statements only when there are some.
    pub fn default_for(
        owner_uid: u32,
        admins: &[Principal],
        users: &[Principal],
    ) -> PolicyDocument {
        let mut policy = PolicyDocument {
            version: "2012-10-17".to_string(),
            id: Some(DEFAULT_POLICY_ID.to_string()),
            statements: vec![Statement::allow(
                OWNER_SID,
                &["kms:*"],
                vec![Principal::Uid(owner_uid)],
            )],
        };
        for admin in admins {
            policy.add_admin(admin);
        }
        for user in users {
            policy.add_user(user);
        }
        policy
    }

    /// Makes `principal` a key user (use of the key, and grants for attached
    /// resources), creating the statements when missing. Returns whether the policy changed.
    pub fn add_user(&mut self, principal: &Principal) -> bool {
        self.add_to_roles(&USERS, principal)
    }

    /// Removes `principal` from the key-user statements, dropping a statement
    /// left without principals. Returns whether the policy changed.
    pub fn remove_user(&mut self, principal: &Principal) -> bool {
        self.remove_from_roles(&USERS, principal)
    }

    /// Makes `principal` a key administrator. Returns whether the policy changed.
    pub fn add_admin(&mut self, principal: &Principal) -> bool {
        self.add_to_roles(&ADMINS, principal)
    }

    /// Removes `principal` from the key-administrator statement. Returns whether the policy changed.
    pub fn remove_admin(&mut self, principal: &Principal) -> bool {
        self.remove_from_roles(&ADMINS, principal)
    }

    fn add_to_roles(&mut self, roles: &[Role], principal: &Principal) -> bool {
        let mut changed = false;
        for role in roles {
            match self
                .statements
                .iter_mut()
                .find(|s| s.sid.as_deref() == Some(role.sid))
            {
                Some(statement) if statement.principals.contains(principal) => {}
                Some(statement) => {
                    statement.principals.push(principal.clone());
                    changed = true;
                }
                None => {
                    self.statements.push(Statement::allow(
                        role.sid,
                        role.actions,
                        vec![principal.clone()],
                    ));
                    changed = true;
                }
            }
        }
        changed
    }

    fn remove_from_roles(&mut self, roles: &[Role], principal: &Principal) -> bool {
        let mut changed = false;
        for role in roles {
            let Some(index) = self
                .statements
                .iter()
                .position(|s| s.sid.as_deref() == Some(role.sid))
            else {
                continue;
            };
            let statement = &mut self.statements[index];
            let before = statement.principals.len();
            statement.principals.retain(|p| p != principal);
            changed |= statement.principals.len() != before;
            if statement.principals.is_empty() {
                self.statements.remove(index);
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EncryptionContext;
    use crate::policy::test_support::caller;
    use crate::policy::{evaluate, DecidedBy, Decision, Request, KNOWN_ACTIONS};

    fn p(text: &str) -> Principal {
        text.parse().unwrap()
    }

    fn sids(policy: &PolicyDocument) -> Vec<&str> {
        policy
            .statements
            .iter()
            .filter_map(|s| s.sid.as_deref())
            .collect()
    }

    fn principals_of(policy: &PolicyDocument, sid: &str) -> Vec<String> {
        policy
            .statement_by_sid(sid)
            .map(|s| s.principals.iter().map(Principal::to_string).collect())
            .unwrap_or_default()
    }

    #[test]
    fn the_default_policy_is_the_consoles() {
        let bare = PolicyDocument::default_for(0, &[], &[]);
        assert_eq!(bare.version, "2012-10-17");
        assert_eq!(bare.id.as_deref(), Some(DEFAULT_POLICY_ID));
        assert_eq!(sids(&bare), [OWNER_SID]);
        let owner = &bare.statements[0];
        assert_eq!(owner.principals, [Principal::Uid(0)]);
        assert_eq!(owner.actions, ["kms:*"]);
        assert_eq!(owner.resources, ["*"]);

        let full = PolicyDocument::default_for(
            1000,
            &[p("user:admin")],
            &[p("user:alice"), p("group:staff")],
        );
        assert_eq!(
            sids(&full),
            [OWNER_SID, ADMINS_SID, USERS_SID, ATTACHMENT_SID]
        );
        assert_eq!(principals_of(&full, ADMINS_SID), ["user:admin"]);
        assert_eq!(
            principals_of(&full, USERS_SID),
            ["user:alice", "group:staff"]
        );
        assert_eq!(
            principals_of(&full, ATTACHMENT_SID),
            ["user:alice", "group:staff"]
        );
        assert_eq!(
            full.statement_by_sid(ADMINS_SID).unwrap().actions,
            ADMIN_ACTIONS
        );
        assert_eq!(
            full.statement_by_sid(USERS_SID).unwrap().actions,
            USER_ACTIONS
        );
        assert_eq!(
            full.statement_by_sid(ATTACHMENT_SID).unwrap().actions,
            ATTACHMENT_ACTIONS
        );
        // What the policy says is a valid document.
        assert_eq!(PolicyDocument::parse(&full.to_json_pretty()).unwrap(), full);
        assert_eq!(
            full.principals_named(),
            [
                &Principal::Uid(1000),
                &p("user:admin"),
                &p("user:alice"),
                &p("group:staff")
            ]
        );
    }

    #[test]
    fn the_vault_owner_may_do_everything_and_nobody_else_anything() {
        let policy = PolicyDocument::default_for(1000, &[], &[]);
        let owner = caller(1000, Some("owner"), 1000, &[], &[]);
        let other = caller(1001, Some("other"), 1000, &[1000], &["owner"]);
        let context = EncryptionContext::new();
        for action in KNOWN_ACTIONS {
            let decide = |who| {
                evaluate(
                    &policy,
                    &[],
                    &Request {
                        caller: who,
                        action,
                        context: &context,
                    },
                )
            };
            assert_eq!(
                decide(&owner),
                Decision::Allowed(DecidedBy::Statement {
                    index: 0,
                    sid: Some(OWNER_SID.into())
                }),
                "{action}"
            );
            assert_eq!(
                decide(&other),
                Decision::Denied(DecidedBy::NoMatch),
                "{action}"
            );
        }
    }

    #[test]
    fn user_edits_are_idempotent_and_drop_empty_statements() {
        let mut policy = PolicyDocument::default_for(0, &[], &[]);
        assert!(policy.add_user(&p("user:bob")));
        assert_eq!(sids(&policy), [OWNER_SID, USERS_SID, ATTACHMENT_SID]);
        assert!(
            !policy.add_user(&p("user:bob")),
            "adding twice changes nothing"
        );
        assert!(policy.add_user(&p("uid:1005")));
        assert_eq!(principals_of(&policy, USERS_SID), ["user:bob", "uid:1005"]);
        assert_eq!(
            principals_of(&policy, ATTACHMENT_SID),
            ["user:bob", "uid:1005"]
        );

        assert!(
            !policy.remove_user(&p("user:carol")),
            "not a user: nothing to remove"
        );
        assert!(
            !policy.remove_user(&p("uid:0")),
            "the owner statement is not a user statement"
        );
        assert!(policy.remove_user(&p("user:bob")));
        assert!(!policy.remove_user(&p("user:bob")));
        assert_eq!(principals_of(&policy, USERS_SID), ["uid:1005"]);
        assert!(policy.remove_user(&p("uid:1005")));
        assert_eq!(sids(&policy), [OWNER_SID], "empty statements are dropped");
        assert!(!policy.remove_user(&p("uid:1005")));
        assert_eq!(policy, PolicyDocument::default_for(0, &[], &[]));
    }

    #[test]
    fn a_missing_user_statement_is_recreated_next_to_an_edited_one() {
        // Someone deleted the attachment statement by hand; add-user restores it.
        let mut policy = PolicyDocument::default_for(0, &[], &[p("user:alice")]);
        policy
            .statements
            .retain(|s| s.sid.as_deref() != Some(ATTACHMENT_SID));
        assert!(policy.add_user(&p("user:alice")));
        assert_eq!(principals_of(&policy, USERS_SID), ["user:alice"]);
        assert_eq!(principals_of(&policy, ATTACHMENT_SID), ["user:alice"]);
    }

    #[test]
    fn admin_edits_touch_only_the_admin_statement() {
        let mut policy = PolicyDocument::default_for(0, &[], &[p("user:alice")]);
        assert!(policy.add_admin(&p("group:kmsadmins")));
        assert!(!policy.add_admin(&p("group:kmsadmins")));
        assert_eq!(
            sids(&policy),
            [OWNER_SID, USERS_SID, ATTACHMENT_SID, ADMINS_SID]
        );
        assert_eq!(principals_of(&policy, ADMINS_SID), ["group:kmsadmins"]);
        assert!(
            !policy.remove_admin(&p("user:alice")),
            "a user is not an admin"
        );
        assert!(policy.remove_admin(&p("group:kmsadmins")));
        assert!(!policy.remove_admin(&p("group:kmsadmins")));
        assert_eq!(sids(&policy), [OWNER_SID, USERS_SID, ATTACHMENT_SID]);
        assert_eq!(principals_of(&policy, USERS_SID), ["user:alice"]);
    }

    #[test]
    fn edits_change_what_evaluation_decides() {
        let mut policy = PolicyDocument::default_for(0, &[], &[]);
        let nobody = caller(65534, Some("nobody"), 65534, &[], &["nogroup"]);
        let context = EncryptionContext::new();
        let may = |policy: &PolicyDocument, action| {
            evaluate(
                policy,
                &[],
                &Request {
                    caller: &nobody,
                    action,
                    context: &context,
                },
            )
            .is_allowed()
        };
        assert!(!may(&policy, "kms:Decrypt"));
        policy.add_user(&p("user:nobody"));
        assert!(may(&policy, "kms:Decrypt"));
        assert!(may(&policy, "kms:CreateGrant"));
        assert!(
            !may(&policy, "kms:PutKeyPolicy"),
            "a key user does not manage the key"
        );
        policy.add_admin(&p("user:nobody"));
        assert!(may(&policy, "kms:PutKeyPolicy"));
        policy.remove_user(&p("user:nobody"));
        assert!(
            !may(&policy, "kms:Decrypt"),
            "an administrator does not use the key"
        );
        assert!(
            may(&policy, "kms:CreateGrant"),
            "but may create grants (kms:Create*), as in AWS"
        );
    }
}
