//! Opening the vault named on the command line, unlocking it, and serving
//! requests as the calling user.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use crate::audit::AuditLog;
use crate::crypto::SecretBytes;
use crate::kms::Kms;
use crate::model::Caller;
use crate::sys;
use crate::vault::{Protection, Vault};

use super::args::AuditTrailArgs;
use super::error::CliError;

pub const USER_AGENT: &str = concat!("kmsfs-cli/", env!("CARGO_PKG_VERSION"));
/// The user agent of requests the mount daemon makes for the programs using a volume.
pub const FS_USER_AGENT: &str = concat!("kmsfs-fs/", env!("CARGO_PKG_VERSION"));

/// The vault path: `--vault`, `KMSFS_VAULT`, or the per-user default.
pub fn vault_path(given: Option<&Path>) -> PathBuf {
    if let Some(path) = given {
        return path.to_path_buf();
    }
    if sys::current_caller().uid == 0 {
        return PathBuf::from("/var/lib/kmsfs/vault.db");
    }
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    data_home.join("kmsfs/vault.db")
}

/// The audit log lives beside the vault: `<vault dir>/audit/`.
pub fn audit_dir(vault: &Path) -> PathBuf {
    vault.parent().unwrap_or(Path::new(".")).join("audit")
}

/// The passphrase from `--passphrase-file` (its first line), or from a prompt on a terminal.
pub fn read_passphrase(
    file: Option<&Path>,
    prompt: &str,
    confirm: bool,
) -> Result<SecretBytes, CliError> {
    if let Some(path) = file {
        let contents = SecretBytes::new(std::fs::read(path).map_err(CliError::read(path))?);
        let line = contents
            .expose()
            .split(|b| *b == b'\n')
            .next()
            .unwrap_or_default();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return Err(CliError::Usage(format!(
                "the passphrase file {} is empty",
                path.display()
            )));
        }
        return Ok(SecretBytes::new(line.to_vec()));
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(
            "this needs the vault passphrase and there is no terminal to ask on: give --passphrase-file FILE".into(),
        ));
    }
    let ask = |text: &str| {
        rpassword::prompt_password(text)
            .map(|p| SecretBytes::new(p.into_bytes()))
            .map_err(|e| CliError::Other(format!("cannot read the passphrase: {e}")))
    };
    let first = ask(prompt)?;
    if first.is_empty() {
        return Err(CliError::Usage("an empty passphrase is not allowed".into()));
    }
    if confirm
        && !crate::crypto::constant_time_eq(
            first.expose(),
            ask("Repeat the passphrase: ")?.expose(),
        )
    {
        return Err(CliError::Usage("the two passphrases differ".into()));
    }
    Ok(first)
}

/// Opens and unlocks the vault, and the KMS serving it; then delivers the
/// audit trail's due rolls and digests.
pub fn open_kms(
    vault: &Path,
    passphrase_file: Option<&Path>,
    trail: &AuditTrailArgs,
    user_agent: &str,
) -> Result<Kms, CliError> {
    let opened = unlock_vault(vault, passphrase_file)?;
    let audit = open_audit_log(vault, trail)?;
    start_kms(opened, audit, trail, user_agent)
}

/// Opens and unlocks the vault, asking for its passphrase if it has one.
pub fn unlock_vault(vault: &Path, passphrase_file: Option<&Path>) -> Result<Vault, CliError> {
    let passphrase = match Vault::protection(vault)? {
        Protection::Passphrase => Some(read_passphrase(
            passphrase_file,
            "Vault passphrase: ",
            false,
        )?),
        Protection::KeyFile => None,
    };
    Ok(Vault::open(vault, passphrase)?)
}

/// The active audit log beside `vault`, synced as `--audit-sync` says.
pub fn open_audit_log(vault: &Path, trail: &AuditTrailArgs) -> Result<AuditLog, CliError> {
    Ok(AuditLog::open(&audit_dir(vault))?.with_sync(super::audit_cmds::sync_policy(trail)))
}

/// The KMS serving `vault` into `audit`, once the trail's due rolls and digests are delivered.
pub fn start_kms(
    vault: Vault,
    audit: AuditLog,
    trail: &AuditTrailArgs,
    user_agent: &str,
) -> Result<Kms, CliError> {
    let kms = Kms::new(vault, audit, user_agent)?;
    super::audit_cmds::deliver_due(kms.vault(), trail);
    Ok(kms)
}

/// Who is asking: this process's user, groups and program.
pub fn caller() -> Caller {
    sys::current_caller()
}
