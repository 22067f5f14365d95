//! Grants: narrower, revocable permissions for one principal, with optional
//! encryption-context constraints. Allow only.
//! Pure: imports only `crate::model`.

use std::fmt;
use std::str::FromStr;

use crate::model::{EncryptionContext, ParseError};

use super::Principal;

/// The operations a grant can allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GrantOperation {
    Decrypt,
    Encrypt,
    GenerateDataKey,
    GenerateDataKeyWithoutPlaintext,
    ReEncryptFrom,
    ReEncryptTo,
    CreateGrant,
    RetireGrant,
    DescribeKey,
}

impl GrantOperation {
    pub const ALL: [GrantOperation; 9] = [
        GrantOperation::Decrypt,
        GrantOperation::Encrypt,
        GrantOperation::GenerateDataKey,
        GrantOperation::GenerateDataKeyWithoutPlaintext,
        GrantOperation::ReEncryptFrom,
        GrantOperation::ReEncryptTo,
        GrantOperation::CreateGrant,
        GrantOperation::RetireGrant,
        GrantOperation::DescribeKey,
    ];

    /// The operation's name as AWS spells it in a grant (`Decrypt`).
    pub fn name(self) -> &'static str {
        match self {
            GrantOperation::Decrypt => "Decrypt",
            GrantOperation::Encrypt => "Encrypt",
            GrantOperation::GenerateDataKey => "GenerateDataKey",
            GrantOperation::GenerateDataKeyWithoutPlaintext => "GenerateDataKeyWithoutPlaintext",
            GrantOperation::ReEncryptFrom => "ReEncryptFrom",
            GrantOperation::ReEncryptTo => "ReEncryptTo",
            GrantOperation::CreateGrant => "CreateGrant",
            GrantOperation::RetireGrant => "RetireGrant",
            GrantOperation::DescribeKey => "DescribeKey",
        }
    }

    /// The policy action it allows (`kms:Decrypt`).
    pub fn action(self) -> &'static str {
        match self {
            GrantOperation::Decrypt => "kms:Decrypt",
            GrantOperation::Encrypt => "kms:Encrypt",
            GrantOperation::GenerateDataKey => "kms:GenerateDataKey",
            GrantOperation::GenerateDataKeyWithoutPlaintext => {
                "kms:GenerateDataKeyWithoutPlaintext"
            }
            GrantOperation::ReEncryptFrom => "kms:ReEncryptFrom",
            GrantOperation::ReEncryptTo => "kms:ReEncryptTo",
            GrantOperation::CreateGrant => "kms:CreateGrant",
            GrantOperation::RetireGrant => "kms:RetireGrant",
            GrantOperation::DescribeKey => "kms:DescribeKey",
        }
    }

    /// Whether the grant's encryption-context constraints apply to this operation.
    /// AWS does not apply them to operations without an encryption context
    /// (DescribeKey, RetireGrant). CreateGrant keeps them: kmsfs cannot carry a
    /// constraint over to the grants it creates, so it fails closed instead.
    pub fn is_constrained_by_context(self) -> bool {
        !matches!(
            self,
            GrantOperation::DescribeKey | GrantOperation::RetireGrant
        )
    }
}

impl fmt::Display for GrantOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for GrantOperation {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<GrantOperation, ParseError> {
        GrantOperation::ALL
            .into_iter()
            .find(|operation| operation.name() == text)
            .ok_or_else(|| {
                let valid: Vec<&str> = GrantOperation::ALL.iter().map(|op| op.name()).collect();
                ParseError(format!(
                    "unknown grant operation {text:?}: expected one of {}",
                    valid.join(", ")
                ))
            })
    }
}

/// Encryption-context constraints of a grant. Both are case-sensitive in kmsfs
/// (AWS ignores the case of the keys here; kmsfs is stricter).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GrantConstraints {
    /// The request's context must be exactly this one.
    pub encryption_context_equals: Option<EncryptionContext>,
    /// Every pair of this context must be in the request's context, which may hold more.
    pub encryption_context_subset: Option<EncryptionContext>,
}

impl GrantConstraints {
    /// Whether a request with `context` satisfies every constraint that is set.
    pub fn hold_for(&self, context: &EncryptionContext) -> bool {
        let equals_holds = self
            .encryption_context_equals
            .as_ref()
            .map_or(true, |wanted| wanted == context);
        let subset_holds = self
            .encryption_context_subset
            .as_ref()
            .map_or(true, |wanted| wanted.is_subset_of(context));
        equals_holds && subset_holds
    }
}

/// A grant on one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub grant_id: String,
    pub grantee: Principal,
    pub operations: Vec<GrantOperation>,
    pub constraints: GrantConstraints,
}

impl Grant {
    /// The operation of this grant that is `action` (case-insensitive), if any.
    pub fn operation_for(&self, action: &str) -> Option<GrantOperation> {
        self.operations
            .iter()
            .copied()
            .find(|operation| operation.action().eq_ignore_ascii_case(action))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::actions::KNOWN_ACTIONS;
    use crate::policy::test_support::{context, Pairs};

    #[test]
    fn operations_round_trip_and_name_known_actions() {
        for operation in GrantOperation::ALL {
            assert_eq!(
                operation.to_string().parse::<GrantOperation>(),
                Ok(operation)
            );
            assert!(KNOWN_ACTIONS.contains(&operation.action()), "{operation}");
            assert_eq!(operation.action(), format!("kms:{operation}"));
        }
    }

    #[test]
    fn unknown_operations_are_refused_with_the_valid_list() {
        for bad in ["decrypt", "kms:Decrypt", "PutKeyPolicy", ""] {
            let err = bad.parse::<GrantOperation>().unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("unknown grant operation {bad:?}")),
                "{err}"
            );
            assert!(err.contains("Decrypt, Encrypt, GenerateDataKey,"), "{err}");
            assert!(err.ends_with("DescribeKey"), "{err}");
        }
    }

    #[test]
    fn constraints_table() {
        let equals = |pairs| GrantConstraints {
            encryption_context_equals: Some(context(pairs)),
            encryption_context_subset: None,
        };
        let subset = |pairs| GrantConstraints {
            encryption_context_equals: None,
            encryption_context_subset: Some(context(pairs)),
        };
        let dept_it: Pairs = &[("dept", "IT")];
        let table: &[(GrantConstraints, Pairs, bool)] = &[
            (GrantConstraints::default(), &[], true),
            (GrantConstraints::default(), dept_it, true),
            (equals(dept_it), dept_it, true),
            (equals(dept_it), &[("dept", "IT"), ("app", "x")], false), // Equals: nothing more
            (equals(dept_it), &[], false),
            (equals(dept_it), &[("dept", "it")], false), // values are case-sensitive
            (equals(dept_it), &[("Dept", "IT")], false), // and so are keys in kmsfs
            (equals(&[]), &[], true),
            (equals(&[]), dept_it, false),
            (subset(dept_it), dept_it, true),
            (subset(dept_it), &[("dept", "IT"), ("app", "x")], true), // Subset: more is fine
            (subset(dept_it), &[("app", "x")], false),
            (subset(dept_it), &[], false),
            (subset(dept_it), &[("dept", "it")], false),
            (subset(dept_it), &[("DEPT", "IT")], false),
            (subset(&[]), dept_it, true),
        ];
        for (constraints, pairs, expected) in table {
            assert_eq!(
                constraints.hold_for(&context(pairs)),
                *expected,
                "{constraints:?} on {pairs:?}"
            );
        }
    }

    #[test]
    fn operation_lookup_by_action() {
        let grant = Grant {
            grant_id: "g".into(),
            grantee: Principal::Any,
            operations: vec![GrantOperation::Decrypt, GrantOperation::DescribeKey],
            constraints: GrantConstraints::default(),
        };
        assert_eq!(
            grant.operation_for("kms:Decrypt"),
            Some(GrantOperation::Decrypt)
        );
        assert_eq!(
            grant.operation_for("KMS:decrypt"),
            Some(GrantOperation::Decrypt)
        );
        assert_eq!(grant.operation_for("kms:Encrypt"), None);
        assert_eq!(
            grant.operation_for("kms:*"),
            None,
            "an action is not a pattern"
        );
    }
}
