//! `kmsfs policy ...` and `kmsfs grant ...`.

use serde_json::json;

use super::args::{GrantCommand, OutputFormat, PolicyCommand};
use super::error::CliError;
use super::{encryption_context, Context};
use crate::kms::{NewGrant, PolicyEdit};

pub fn run_policy(ctx: &Context, cmd: &PolicyCommand) -> Result<(), CliError> {
    let (kms, caller) = (ctx.kms, ctx.caller);
    let edit = |args: &super::args::PrincipalEditArgs, edit| {
        kms.edit_key_policy(caller, &args.key.key_id, edit, &args.principal)
    };
    let response = match cmd {
        PolicyCommand::Get(key) => {
            let response = kms.get_key_policy(caller, &key.key_id)?;
            if ctx.output == OutputFormat::Text {
                // The document itself, ready to edit and `policy put` back.
                println!("{}", response["Policy"].as_str().unwrap_or_default());
                return Ok(());
            }
            response
        }
        PolicyCommand::Put {
            key,
            policy_file,
            bypass_policy_lockout_safety_check,
        } => {
            let text = std::fs::read_to_string(policy_file).map_err(CliError::read(policy_file))?;
            kms.put_key_policy(
                caller,
                &key.key_id,
                &text,
                *bypass_policy_lockout_safety_check,
            )?
        }
        PolicyCommand::AddUser(args) => edit(args, PolicyEdit::AddUser)?,
        PolicyCommand::RemoveUser(args) => edit(args, PolicyEdit::RemoveUser)?,
        PolicyCommand::AddAdmin(args) => edit(args, PolicyEdit::AddAdmin)?,
        PolicyCommand::RemoveAdmin(args) => edit(args, PolicyEdit::RemoveAdmin)?,
        PolicyCommand::Simulate {
            key,
            principal,
            action,
            encryption_context: pairs,
        } => {
            let context = encryption_context(pairs)?;
            let simulation = kms.simulate(caller, &key.key_id, principal, action, &context)?;
            let decision = if simulation.allowed {
                "Allowed"
            } else {
                "Denied"
            };
            if ctx.output == OutputFormat::Text {
                println!("{decision}: {}", simulation.decided_by);
                return Ok(());
            }
            json!({ "Decision": decision, "DecidedBy": simulation.decided_by, "Principal": principal, "Action": action })
        }
    };
    if ctx.output == OutputFormat::Text
        && matches!(
            cmd,
            PolicyCommand::AddUser(_)
                | PolicyCommand::RemoveUser(_)
                | PolicyCommand::AddAdmin(_)
                | PolicyCommand::RemoveAdmin(_)
        )
    {
        let changed = response["Changed"].as_bool().unwrap_or(false);
        println!(
            "{}",
            if changed {
                "policy updated"
            } else {
                "policy unchanged: nothing to do"
            }
        );
        return Ok(());
    }
    ctx.print(&response);
    Ok(())
}

pub fn run_grant(ctx: &Context, cmd: &GrantCommand) -> Result<(), CliError> {
    let (kms, caller) = (ctx.kms, ctx.caller);
    let response = match cmd {
        GrantCommand::Create {
            key,
            grantee,
            operations,
            retiring_principal,
            name,
            encryption_context_equals,
            encryption_context_subset,
        } => {
            let optional = |pairs: &Vec<String>| -> Result<_, CliError> {
                Ok(if pairs.is_empty() {
                    None
                } else {
                    Some(encryption_context(pairs)?)
                })
            };
            kms.create_grant(
                caller,
                &key.key_id,
                &NewGrant {
                    grantee,
                    operations,
                    retiring_principal: retiring_principal.as_deref(),
                    name: name.as_deref(),
                    encryption_context_equals: optional(encryption_context_equals)?,
                    encryption_context_subset: optional(encryption_context_subset)?,
                },
            )?
        }
        GrantCommand::List(key) => kms.list_grants(caller, &key.key_id)?,
        GrantCommand::Revoke { key, grant_id } => {
            kms.revoke_grant(caller, &key.key_id, grant_id)?
        }
        GrantCommand::Retire { grant_token } => kms.retire_grant(caller, grant_token)?,
    };
    ctx.print(&response);
    Ok(())
}
