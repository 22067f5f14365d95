//! The KMS action names kmsfs knows, the console's action lists, and action
//! patterns (`kms:GenerateDataKey*`, `kms:*`, `*`).
//! Pure: imports nothing outside `policy`.

use super::matching::{wildcard_match, Case};

/// Every action a key policy can name.
pub const KNOWN_ACTIONS: &[&str] = &[
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:CreateGrant",
    "kms:CreateKey",
    "kms:Decrypt",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListAliases",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListKeyRotations",
    "kms:ListKeys",
    "kms:PutKeyPolicy",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:RetireGrant",
    "kms:RevokeGrant",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
];

/// The console's key-administrator actions: manage the key, not use it.
pub const ADMIN_ACTIONS: &[&str] = &[
    "kms:Create*",
    "kms:Describe*",
    "kms:Enable*",
    "kms:List*",
    "kms:Put*",
    "kms:Update*",
    "kms:Revoke*",
    "kms:Disable*",
    "kms:Get*",
    "kms:Delete*",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:RotateKeyOnDemand",
];

/// The console's key-user actions: use the key for cryptography.
pub const USER_ACTIONS: &[&str] = &[
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:DescribeKey",
];

/// The console's "attachment of persistent resources" actions, given to key users.
pub const ATTACHMENT_ACTIONS: &[&str] = &["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"];

/// Whether `action` (e.g. `kms:Decrypt`) matches `pattern` (e.g. `kms:*`), ignoring
/// case as AWS does; `*` matches any run of characters and `?` exactly one.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    wildcard_match(pattern, action, Case::Insensitive)
}

/// Whether `pattern` matches at least one of [`KNOWN_ACTIONS`].
pub fn matches_a_known_action(pattern: &str) -> bool {
    KNOWN_ACTIONS
        .iter()
        .any(|action| action_matches(pattern, action))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expanded(pattern: &str) -> Vec<&'static str> {
        KNOWN_ACTIONS
            .iter()
            .copied()
            .filter(|action| action_matches(pattern, action))
            .collect()
    }

    #[test]
    fn patterns_expand_to_the_expected_actions() {
        let table: &[(&str, &[&str])] = &[
            ("kms:Decrypt", &["kms:Decrypt"]),
            ("KMS:decrypt", &["kms:Decrypt"]),
            (
                "kms:GenerateDataKey*",
                &["kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext"],
            ),
            ("kms:ReEncrypt*", &["kms:ReEncryptFrom", "kms:ReEncryptTo"]),
            (
                "kms:Re*",
                &[
                    "kms:ReEncryptFrom",
                    "kms:ReEncryptTo",
                    "kms:RetireGrant",
                    "kms:RevokeGrant",
                ],
            ),
            ("kms:?ncrypt", &["kms:Encrypt"]),
            ("kms:ReEncrypt??", &["kms:ReEncryptTo"]),
            ("kms:Decrpyt", &[]),
            ("kms:Decrypt?", &[]),
            ("s3:*", &[]),
        ];
        for (pattern, actions) in table {
            assert_eq!(&expanded(pattern), actions, "{pattern}");
        }
        assert_eq!(expanded("kms:*").len(), KNOWN_ACTIONS.len());
        assert_eq!(expanded("*").len(), KNOWN_ACTIONS.len());
    }

    #[test]
    fn console_lists_name_known_actions_and_split_use_from_management() {
        for pattern in ADMIN_ACTIONS
            .iter()
            .chain(USER_ACTIONS)
            .chain(ATTACHMENT_ACTIONS)
        {
            assert!(matches_a_known_action(pattern), "{pattern}");
        }
        let admin_may = |action: &str| ADMIN_ACTIONS.iter().any(|p| action_matches(p, action));
        let user_may = |action: &str| USER_ACTIONS.iter().any(|p| action_matches(p, action));
        for action in [
            "kms:Encrypt",
            "kms:Decrypt",
            "kms:GenerateDataKey",
            "kms:ReEncryptTo",
        ] {
            assert!(
                !admin_may(action),
                "administrators must not use the key: {action}"
            );
            assert!(user_may(action), "{action}");
        }
        for action in [
            "kms:PutKeyPolicy",
            "kms:ScheduleKeyDeletion",
            "kms:DisableKey",
            "kms:CreateGrant",
        ] {
            assert!(admin_may(action), "{action}");
            assert!(!user_may(action), "{action}");
        }
        assert!(user_may("kms:DescribeKey") && admin_may("kms:DescribeKey"));
    }
}
