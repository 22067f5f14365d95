//! `kmsfs volume create|info`.

use std::path::Path;

use serde_json::{json, Value};

use super::args::{CipherArg, VolumeCommand};
use super::error::CliError;
use super::Context;
use crate::crypto::Cipher;
use crate::format::volume_config::VolumeConfig;
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
    }
    Ok(())
}
