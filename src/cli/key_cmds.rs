//! `kmsfs key ...` and `kmsfs alias ...`.

use serde_json::Value;

use super::args::{AliasCommand, KeyCommand, RotationCommand};
use super::error::CliError;
use super::Context;
use crate::kms::NewKey;

pub fn run_key(ctx: &Context, cmd: &KeyCommand) -> Result<(), CliError> {
    let (kms, caller) = (ctx.kms, ctx.caller);
    let response = match cmd {
        KeyCommand::Create {
            alias,
            description,
            admins,
            users,
        } => kms.create_key(
            caller,
            &NewKey {
                description,
                alias: alias.as_deref(),
                admins,
                users,
            },
        )?,
        KeyCommand::List => kms.list_keys(caller)?,
        KeyCommand::Describe(key) => kms.describe_key(caller, &key.key_id)?,
        KeyCommand::Enable(key) => kms.enable_key(caller, &key.key_id)?,
        KeyCommand::Disable(key) => kms.disable_key(caller, &key.key_id)?,
        KeyCommand::ScheduleDeletion {
            key,
            pending_window_days,
        } => {
            let response =
                kms.schedule_key_deletion(caller, &key.key_id, Some(*pending_window_days))?;
            if let Some(date) = response["DeletionDate"].as_str() {
                log::warn!(
                    "on {date} the key material is destroyed and everything encrypted under it becomes unrecoverable; \
                     until then 'kmsfs key cancel-deletion' undoes this"
                );
            }
            response
        }
        KeyCommand::CancelDeletion(key) => kms.cancel_key_deletion(caller, &key.key_id)?,
        KeyCommand::UpdateDescription { key, description } => {
            kms.update_key_description(caller, &key.key_id, description)?
        }
        KeyCommand::Rotate(key) => kms.rotate_key_on_demand(caller, &key.key_id)?,
        KeyCommand::Rotation(RotationCommand::Enable { key, period_days }) => {
            kms.enable_key_rotation(caller, &key.key_id, Some(*period_days))?
        }
        KeyCommand::Rotation(RotationCommand::Disable(key)) => {
            kms.disable_key_rotation(caller, &key.key_id)?
        }
        KeyCommand::Rotation(RotationCommand::Status(key)) => {
            kms.get_key_rotation_status(caller, &key.key_id)?
        }
        KeyCommand::Rotations(key) => kms.list_key_rotations(caller, &key.key_id)?,
    };
    ctx.print(&response);
    Ok(())
}

pub fn run_alias(ctx: &Context, cmd: &AliasCommand) -> Result<(), CliError> {
    let (kms, caller) = (ctx.kms, ctx.caller);
    let response: Value = match cmd {
        AliasCommand::Create {
            alias_name,
            target_key_id,
        } => kms.create_alias(caller, alias_name, target_key_id)?,
        AliasCommand::Update {
            alias_name,
            target_key_id,
        } => kms.update_alias(caller, alias_name, target_key_id)?,
        AliasCommand::Delete { alias_name } => kms.delete_alias(caller, alias_name)?,
        AliasCommand::List { key_id } => kms.list_aliases(caller, key_id.as_deref())?,
    };
    ctx.print(&response);
    Ok(())
}
