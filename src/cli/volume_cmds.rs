//! `kmsfs volume create|info|rewrap`.

use std::path::Path;

use serde_json::{json, Value};

use super::args::{CipherArg, VolumeCommand};
use super::error::CliError;
use super::Context;
use crate::crypto::Cipher;
use crate::format::volume_config::VolumeConfig;
use crate::volume::rewrap::{self, RewrapError};
use crate::volume::{Volume, VolumeError};

impl From<VolumeError> for CliError {
    fn from(err: VolumeError) -> Self {
        match err {
            VolumeError::Kms(kms) => CliError::Kms(kms),
            other => CliError::Other(other.to_string()),
        }
    }
}

fn describe(backing: &Path, config: &VolumeConfig, account: &str) -> Value {
    json!({
        "Volume": {
            "Backing": backing.display().to_string(),
            "FormatVersion": crate::format::volume_config::FORMAT_VERSION,
            "VolumeId": config.volume_id.to_string(),
            "KeyId": config.key_id.to_string(),
            "KeyArn": config.key_id.arn(account).to_string(),
            "Cipher": config.cipher.name(),
            "ChunkSize": config.chunk_size,
            "CreationDate": crate::kms::aws_date(config.created),
        }
    })
}

pub fn run(ctx: &Context, cmd: &VolumeCommand) -> Result<(), CliError> {
    match cmd {
        VolumeCommand::Create {
            backing,
            key,
            cipher,
            chunk_size,
        } => {
            let cipher = match cipher {
                CipherArg::Aes256Gcm => Cipher::Aes256Gcm,
                CipherArg::XChaCha20Poly1305 => Cipher::XChaCha20Poly1305,
            };
            let config = Volume::create(
                ctx.kms,
                ctx.caller,
                backing,
                &key.key_id,
                cipher,
                *chunk_size,
            )?;
            ctx.print(&describe(backing, &config, ctx.kms.account()));
        }
        VolumeCommand::Info { backing } => {
            let config = Volume::read_config(backing)?;
            ctx.print(&describe(backing, &config, ctx.kms.account()));
        }
        VolumeCommand::Rewrap {
            backing,
            key_id,
            dry_run,
        } => return rewrap(ctx, backing, key_id.as_deref(), *dry_run),
    }
    Ok(())
}

fn rewrap(ctx: &Context, backing: &Path, key: Option<&str>, dry_run: bool) -> Result<(), CliError> {
    let verb = if dry_run { "counting" } else { "rewrapping" };
    let bar = super::progress::bar(crate::volume::walk::count_entries(backing), verb);
    let mut on_entry = |path: &str| {
        bar.inc(1);
        bar.set_message(path.to_string());
    };
    let report = rewrap::rewrap(ctx.kms, ctx.caller, backing, key, dry_run, &mut on_entry);
    bar.finish_and_clear();
    let report = report.map_err(|err| match err {
        RewrapError::Volume(err) => CliError::from(err),
        RewrapError::Kms { path, source } => CliError::Relayed {
            code: super::error::exit::REQUEST_FAILED,
            message: format!("{path}: {source}"),
        },
        other => CliError::Other(other.to_string()),
    })?;
    let failed: Vec<Value> = report
        .failed
        .iter()
        .map(|(path, why)| json!({ "Path": path, "Error": why }))
        .collect();
    ctx.print(&json!({
        "Rewrap": {
            "DryRun": dry_run,
            "KeyArn": report.key_id.map(|id| id.arn(ctx.kms.account()).to_string()),
            "ConfigRewrapped": report.config_rewrapped,
            "Files": report.files,
            "Rewrapped": report.rewrapped,
            "AlreadyCurrent": report.current,
            "Failed": failed,
        }
    }));
    if report.failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::Other(format!(
            "{} file(s) could not be re-wrapped (run kmsfs fsck)",
            report.failed.len()
        )))
    }
}
