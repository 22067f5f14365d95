//! `kmsfs vault passwd|backup`: the vault's own maintenance, on the vault
//! directly (no key is used, so there is no KMS request to record).

use std::path::Path;

use serde_json::json;

use super::args::{Cli, VaultCommand};
use super::error::CliError;
use super::{render, session};
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
            vault.change_root_key(source, KdfParams::default())?;
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
