//! `kmsfs init`.

use std::path::Path;

use serde_json::json;

use super::args::{Cli, InitArgs};
use super::error::CliError;
use super::render;
use super::session::{audit_dir, read_passphrase};
use crate::audit::AuditLog;
use crate::crypto::KdfParams;
use crate::vault::{key_file_path, RootKeySource, Vault};

pub fn run(cli: &Cli, vault: &Path, args: &InitArgs) -> Result<(), CliError> {
    let source = if args.passphrase || cli.passphrase_file.is_some() {
        RootKeySource::Passphrase(read_passphrase(
            cli.passphrase_file.as_deref(),
            "New vault passphrase: ",
            true,
        )?)
    } else {
        RootKeySource::KeyFile
    };
    let created = Vault::init(vault, source, KdfParams::default())?;
    AuditLog::open(&audit_dir(vault))?;
    let info = created.info();
    let mut response = json!({
        "Vault": vault.display().to_string(),
        "VaultId": info.vault_id,
        "AccountId": info.account_id,
        "Protection": format!("{:?}", info.protection),
        "AuditLog": audit_dir(vault).display().to_string(),
    });
    if !(args.passphrase || cli.passphrase_file.is_some()) {
        response["KeyFile"] = json!(key_file_path(vault).display().to_string());
    }
    render::print(cli.output, &response);
    Ok(())
}
