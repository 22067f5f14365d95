//! `kmsfs vault passwd|backup`: the vault's own maintenance, on the vault
//! directly (no KMS key is used). Each is still an audit record, like a KMS
//! management call: `ChangeVaultRootKey` (written inside the vault
//! transaction, so a change that cannot be recorded does not happen) and
//! `BackupVault` (written once the copy is complete; a copy that cannot be
//! recorded is removed).

use std::path::Path;

use serde_json::{json, Value};

use super::args::{Cli, VaultCommand};
use super::error::CliError;
use super::{render, session};
use crate::audit::{AuditEvent, AuditLog, EventType, Record};
use crate::crypto::KdfParams;
use crate::vault::{key_file_path, Protection, RootKeySource, Vault};

pub fn run(cli: &Cli, db: &Path, cmd: &VaultCommand) -> Result<(), CliError> {
    let protection = Vault::protection(db)?;
    let passphrase = match protection {
        Protection::Passphrase => Some(session::read_passphrase(
            cli.passphrase_file.as_deref(),
            "Vault passphrase: ",
            false,
        )?),
        Protection::KeyFile => None,
    };
    let mut vault = Vault::open(db, passphrase)?;
    let audit = session::open_audit_log(db, &cli.audit_trail)?;
    let account_id = vault.info().account_id.clone();
    let record = |event_name: &str, read_only: bool, request_parameters: Value| {
        record_maintenance(
            &audit,
            &account_id,
            event_name,
            read_only,
            request_parameters,
        )
    };
    match cmd {
        VaultCommand::Passwd {
            to_passphrase,
            to_key_file,
            new_passphrase_file,
        } => {
            let wants_passphrase =
                *to_passphrase || (!*to_key_file && protection == Protection::Passphrase);
            let source = if wants_passphrase {
                RootKeySource::Passphrase(session::read_passphrase(
                    new_passphrase_file.as_deref(),
                    "New vault passphrase: ",
                    true,
                )?)
            } else {
                RootKeySource::KeyFile
            };
            let to = if wants_passphrase {
                Protection::Passphrase
            } else {
                Protection::KeyFile
            };
            let parameters = json!({ "from": format!("{protection:?}"), "to": format!("{to:?}") });
            vault.change_root_key(source, KdfParams::default(), || {
                record("ChangeVaultRootKey", false, parameters)
            })?;
            let mut response = json!({
                "Vault": db.display().to_string(),
                "Protection": format!("{:?}", vault.info().protection),
            });
            if !wants_passphrase {
                response["KeyFile"] = json!(key_file_path(db).display().to_string());
            }
            render::print(cli.output, &response);
        }
        VaultCommand::Backup { file } => {
            vault.backup_to(file)?;
            let parameters = json!({ "destination": file.display().to_string() });
            if let Err(err) = record("BackupVault", true, parameters) {
                let _ = std::fs::remove_file(file);
                return Err(err);
            }
            let mut response = json!({
                "Vault": db.display().to_string(),
                "Backup": file.display().to_string(),
                "Protection": format!("{:?}", protection),
            });
            if protection == Protection::KeyFile {
                response["KeyFileNotCopied"] = json!(key_file_path(db).display().to_string());
            }
            render::print(cli.output, &response);
        }
    }
    Ok(())
}

/// Appends the record of one vault maintenance call by this process's user.
fn record_maintenance(
    audit: &AuditLog,
    account_id: &str,
    event_name: &str,
    read_only: bool,
    request_parameters: Value,
) -> Result<(), CliError> {
    let caller = session::caller();
    let event = AuditEvent {
        caller: Some(&caller),
        account_id,
        event_name,
        event_type: EventType::AwsApiCall,
        read_only,
        request_parameters,
        response_elements: Value::Null,
        resources: Vec::new(),
        error: None,
        user_agent: session::USER_AGENT,
        additional_event_data: None,
    };
    Ok(audit.append(&Record::new(&event))?)
}
