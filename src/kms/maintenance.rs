//! What falls due with time: keys past their deletion date are destroyed and
//! keys whose rotation date passed get new material. Both happen the next time
//! a vault is opened for service, and both are audit records (AwsServiceEvent).

use chrono::Duration;
use serde_json::json;

use super::error::KmsError;
use super::metadata::aws_date;
use super::{now, Kms};
use crate::model::KeyState;
use crate::vault::RotationType;

impl Kms {
    pub(super) fn run_due_maintenance(&self) -> Result<(), KmsError> {
        let at = now();
        let is_due = |key: &crate::vault::KeyRecord| {
            let deletion_due = key.state == KeyState::PendingDeletion
                && key.deletion_date.is_some_and(|d| d <= at);
            let rotation_due = key.state == KeyState::Enabled
                && key.rotation_enabled
                && key.next_rotation_date.is_some_and(|d| d <= at);
            deletion_due || rotation_due
        };
        // Reads first: most opens find nothing due and take no write lock.
        if !self.vault.keys()?.iter().any(is_due) {
            return Ok(());
        }
        self.vault.atomically(|vault| {
            // Re-read inside the transaction: another process may have done it.
            for mut key in vault.keys()?.into_iter().filter(is_due) {
                if key.state == KeyState::PendingDeletion {
                    vault.destroy_material(&key.key_id)?;
                    for alias in vault.aliases(Some(&key.key_id))? {
                        vault.delete_alias(&alias.name)?;
                    }
                    for grant in vault.grants(&key.key_id)? {
                        vault.delete_grant(&grant.grant_id)?;
                    }
                    let scheduled = key.deletion_date.map(aws_date);
                    key.state = KeyState::Destroyed;
                    vault.update_key(&key)?;
                    self.audit_service_event(
                        "DeleteKey",
                        &key,
                        json!({ "scheduledDeletionDate": scheduled, "materialDestroyed": true }),
                    )?;
                } else {
                    let version = vault.add_material(&key.key_id, RotationType::Automatic, at)?;
                    key.next_rotation_date =
                        Some(at + Duration::days(key.rotation_period_days.into()));
                    vault.update_key(&key)?;
                    self.audit_service_event("RotateKey", &key, json!({ "newVersion": version }))?;
                }
            }
            Ok::<(), KmsError>(())
        })
    }
}
