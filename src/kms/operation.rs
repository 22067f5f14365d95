//! The KMS operations: their CloudTrail event name, the policy action that
//! authorizes them, and which key states allow them (KMS-REFERENCE.md, "Key states").

use crate::model::{Arn, KeyState};

use super::error::{ErrorCode, KmsError};

/// Declares the operations once: the enum, `ALL`, and the event names (each
/// operation's CloudTrail eventName is its variant's name).
macro_rules! operations {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Operation {
            $($(#[$doc])* $name,)*
        }

        impl Operation {
            /// Every operation, in declaration order.
            pub const ALL: &'static [Operation] = &[$(Operation::$name,)*];

            /// The CloudTrail eventName.
            pub fn event_name(self) -> &'static str {
                match self {
                    $(Operation::$name => stringify!($name),)*
                }
            }
        }
    };
}

operations! {
    CreateKey,
    DescribeKey,
    ListKeys,
    EnableKey,
    DisableKey,
    ScheduleKeyDeletion,
    CancelKeyDeletion,
    UpdateKeyDescription,
    RotateKeyOnDemand,
    EnableKeyRotation,
    DisableKeyRotation,
    GetKeyRotationStatus,
    ListKeyRotations,
    CreateAlias,
    UpdateAlias,
    DeleteAlias,
    ListAliases,
    GetKeyPolicy,
    PutKeyPolicy,
    CreateGrant,
    ListGrants,
    RevokeGrant,
    RetireGrant,
    Encrypt,
    Decrypt,
    ReEncrypt,
    GenerateDataKey,
    GenerateDataKeyWithoutPlaintext,
    /// kmsfs's own: `policy simulate`, authorized as a policy read.
    SimulateKeyPolicy,
}

/// Which key states an operation accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StateRule {
    /// Cryptographic use: Enabled only.
    Cryptographic,
    /// Any state but destroyed.
    Any,
    /// Enabled or Disabled; PendingDeletion is KMSInvalidStateException.
    NotPendingDeletion,
    /// PendingDeletion only.
    PendingDeletionOnly,
    /// Enabled; Disabled is DisabledException; PendingDeletion KMSInvalidStateException.
    RotationSettings,
}

impl Operation {
    /// The key policy action that authorizes the operation on its key. ReEncrypt
    /// needs two: kms:ReEncryptFrom on the source and kms:ReEncryptTo on the destination.
    pub fn action(self) -> &'static str {
        match self {
            Operation::ReEncrypt => "kms:ReEncryptFrom",
            Operation::SimulateKeyPolicy => "kms:GetKeyPolicy",
            other => action_of(other.event_name()),
        }
    }

    /// CloudTrail's readOnly: reads and cryptographic calls that change nothing.
    pub fn read_only(self) -> bool {
        use Operation::*;
        matches!(
            self,
            DescribeKey
                | ListKeys
                | GetKeyRotationStatus
                | ListKeyRotations
                | ListAliases
                | GetKeyPolicy
                | ListGrants
                | Encrypt
                | Decrypt
                | ReEncrypt
                | GenerateDataKey
                | GenerateDataKeyWithoutPlaintext
                | SimulateKeyPolicy
        )
    }

    fn state_rule(self) -> StateRule {
        use Operation::*;
        match self {
            Encrypt
            | Decrypt
            | ReEncrypt
            | GenerateDataKey
            | GenerateDataKeyWithoutPlaintext
            | CreateGrant => StateRule::Cryptographic,
            EnableKey | DisableKey | ScheduleKeyDeletion | CreateAlias | UpdateAlias
            | UpdateKeyDescription => StateRule::NotPendingDeletion,
            CancelKeyDeletion => StateRule::PendingDeletionOnly,
            EnableKeyRotation | DisableKeyRotation | RotateKeyOnDemand => {
                StateRule::RotationSettings
            }
            CreateKey | DescribeKey | ListKeys | GetKeyRotationStatus | ListKeyRotations
            | DeleteAlias | ListAliases | GetKeyPolicy | PutKeyPolicy | ListGrants
            | RevokeGrant | RetireGrant | SimulateKeyPolicy => StateRule::Any,
        }
    }

    /// Checks the key state against the operation, with AWS's exception and message.
    pub fn check_state(self, state: KeyState, arn: &Arn) -> Result<(), KmsError> {
        let disabled = || KmsError::new(ErrorCode::Disabled, format!("{arn} is disabled."));
        let pending = || {
            KmsError::new(
                ErrorCode::InvalidState,
                format!("{arn} is pending deletion."),
            )
        };
        match (state, self.state_rule()) {
            (KeyState::Destroyed, _) => Err(KmsError::not_found(format!(
                "Key '{arn}' does not exist: it was deleted and its key material destroyed; data encrypted under it is unrecoverable"
            ))),
            (KeyState::Enabled, StateRule::PendingDeletionOnly) | (KeyState::Disabled, StateRule::PendingDeletionOnly) => {
                Err(KmsError::new(ErrorCode::InvalidState, format!("{arn} is not pending deletion.")))
            }
            (KeyState::PendingDeletion, StateRule::PendingDeletionOnly) => Ok(()),
            (_, StateRule::Any) => Ok(()),
            (KeyState::Enabled, _) => Ok(()),
            (KeyState::Disabled, StateRule::NotPendingDeletion) => Ok(()),
            (KeyState::Disabled, _) => Err(disabled()),
            (KeyState::PendingDeletion, _) => Err(pending()),
        }
    }
}

/// `kms:NAME` for an operation's event name; the actions are static strings.
fn action_of(event_name: &str) -> &'static str {
    crate::policy::KNOWN_ACTIONS
        .iter()
        .find(|action| action.strip_prefix("kms:") == Some(event_name))
        .copied()
        .unwrap_or_else(|| panic!("BUG: no policy action for operation {event_name}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::KeyId;

    #[test]
    fn every_operation_has_a_known_action() {
        for &op in Operation::ALL {
            assert!(
                crate::policy::KNOWN_ACTIONS.contains(&op.action()),
                "{op:?}"
            );
        }
    }

    /// The key-state table of KMS-REFERENCE.md, row by row.
    #[test]
    fn state_table() {
        use Operation::*;
        let arn = KeyId::new_random().arn("111122223333");
        let code = |op: Operation, state| op.check_state(state, &arn).err().map(|e| e.code);
        for op in [
            Encrypt,
            Decrypt,
            ReEncrypt,
            GenerateDataKey,
            GenerateDataKeyWithoutPlaintext,
            CreateGrant,
        ] {
            assert_eq!(code(op, KeyState::Enabled), None);
            assert_eq!(code(op, KeyState::Disabled), Some(ErrorCode::Disabled));
            assert_eq!(
                code(op, KeyState::PendingDeletion),
                Some(ErrorCode::InvalidState)
            );
        }
        for op in [
            DescribeKey,
            GetKeyPolicy,
            PutKeyPolicy,
            ListGrants,
            DeleteAlias,
            RetireGrant,
            RevokeGrant,
        ] {
            for state in [
                KeyState::Enabled,
                KeyState::Disabled,
                KeyState::PendingDeletion,
            ] {
                assert_eq!(code(op, state), None, "{op:?} {state}");
            }
        }
        for op in [
            EnableKey,
            DisableKey,
            ScheduleKeyDeletion,
            CreateAlias,
            UpdateKeyDescription,
        ] {
            assert_eq!(code(op, KeyState::Enabled), None);
            assert_eq!(code(op, KeyState::Disabled), None);
            assert_eq!(
                code(op, KeyState::PendingDeletion),
                Some(ErrorCode::InvalidState)
            );
        }
        assert_eq!(
            code(CancelKeyDeletion, KeyState::Enabled),
            Some(ErrorCode::InvalidState)
        );
        assert_eq!(
            code(CancelKeyDeletion, KeyState::Disabled),
            Some(ErrorCode::InvalidState)
        );
        assert_eq!(code(CancelKeyDeletion, KeyState::PendingDeletion), None);
        for op in [EnableKeyRotation, DisableKeyRotation] {
            assert_eq!(code(op, KeyState::Enabled), None);
            assert_eq!(code(op, KeyState::Disabled), Some(ErrorCode::Disabled));
            assert_eq!(
                code(op, KeyState::PendingDeletion),
                Some(ErrorCode::InvalidState)
            );
        }
        for &op in Operation::ALL {
            assert_eq!(
                code(op, KeyState::Destroyed),
                Some(ErrorCode::NotFound),
                "{op:?}"
            );
        }
        let message = CancelKeyDeletion
            .check_state(KeyState::Enabled, &arn)
            .unwrap_err()
            .message;
        assert_eq!(message, format!("{arn} is not pending deletion."));
    }
}
