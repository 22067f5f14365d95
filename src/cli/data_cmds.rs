//! `kmsfs encrypt|decrypt|re-encrypt|generate-data-key`: binary values are raw
//! in files and base64 in output, as the AWS CLI prints them.

use std::io::Write;
use std::path::Path;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde_json::json;
use zeroize::Zeroizing;

use super::args::{
    DecryptArgs, EncryptArgs, GenerateDataKeyArgs, KeySpecArg, OutputFormat, ReEncryptArgs,
};
use super::error::CliError;
use super::{encryption_context, Context};
use crate::crypto::SecretBytes;
use crate::format::blob::MAGIC;
use crate::kms::{EncryptOutput, KeySpec, ALGORITHM};

/// A ciphertext blob from a file: raw bytes, or base64 text as `encrypt` prints it.
fn read_blob(path: &Path) -> Result<Vec<u8>, CliError> {
    let bytes = std::fs::read(path).map_err(CliError::read(path))?;
    if bytes.starts_with(MAGIC) {
        return Ok(bytes);
    }
    let text: Vec<u8> = bytes
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    Ok(BASE64.decode(&text).unwrap_or(bytes))
}

/// Writes a file that may hold a secret: created 0600 before any byte is written.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(CliError::write(path))?;
    file.write_all(bytes).map_err(CliError::write(path))
}

fn print_blob_output(
    ctx: &Context,
    output: &EncryptOutput,
    output_file: Option<&Path>,
) -> Result<(), CliError> {
    if let Some(path) = output_file {
        write_private(path, &output.ciphertext_blob)?;
    }
    if ctx.output == OutputFormat::Text {
        if output_file.is_none() {
            println!("{}", BASE64.encode(&output.ciphertext_blob));
        }
        return Ok(());
    }
    let mut response = json!({
        "CiphertextBlob": BASE64.encode(&output.ciphertext_blob),
        "KeyId": output.key_arn,
        "EncryptionAlgorithm": ALGORITHM,
    });
    if let Some(source) = &output.source_key_arn {
        response["SourceKeyId"] = json!(source);
        response["SourceEncryptionAlgorithm"] = json!(ALGORITHM);
        response["DestinationEncryptionAlgorithm"] = json!(ALGORITHM);
    }
    ctx.print(&response);
    Ok(())
}

pub fn encrypt(ctx: &Context, args: &EncryptArgs) -> Result<(), CliError> {
    let path = &args.plaintext_file;
    let plaintext = SecretBytes::new(std::fs::read(path).map_err(CliError::read(path))?);
    let context = encryption_context(&args.context.encryption_context)?;
    let output = ctx
        .kms
        .encrypt(ctx.caller, &args.key.key_id, plaintext.expose(), &context)?;
    print_blob_output(ctx, &output, args.output_file.as_deref())
}

pub fn decrypt(ctx: &Context, args: &DecryptArgs) -> Result<(), CliError> {
    let blob = read_blob(&args.ciphertext_file)?;
    let context = encryption_context(&args.context.encryption_context)?;
    let output = ctx
        .kms
        .decrypt(ctx.caller, &blob, &context, args.key_id.as_deref())?;
    if let Some(path) = &args.output_file {
        write_private(path, output.plaintext.expose())?;
    }
    match ctx.output {
        OutputFormat::Text if args.output_file.is_none() => {
            let mut stdout = std::io::stdout();
            stdout
                .write_all(output.plaintext.expose())
                .and_then(|()| stdout.flush())
                .map_err(|e| {
                    CliError::Other(format!("cannot write the plaintext to stdout: {e}"))
                })?;
        }
        OutputFormat::Text => {}
        OutputFormat::Json => {
            let plaintext = Zeroizing::new(BASE64.encode(output.plaintext.expose()));
            ctx.print(&json!({ "KeyId": output.key_arn, "Plaintext": *plaintext, "EncryptionAlgorithm": ALGORITHM }));
        }
    }
    Ok(())
}

pub fn re_encrypt(ctx: &Context, args: &ReEncryptArgs) -> Result<(), CliError> {
    let blob = read_blob(&args.ciphertext_file)?;
    let source = encryption_context(&args.source_encryption_context)?;
    let destination = encryption_context(&args.destination_encryption_context)?;
    let output = ctx.kms.re_encrypt(
        ctx.caller,
        &blob,
        &source,
        &args.destination_key_id,
        &destination,
    )?;
    print_blob_output(ctx, &output, args.output_file.as_deref())
}

pub fn generate_data_key(ctx: &Context, args: &GenerateDataKeyArgs) -> Result<(), CliError> {
    let spec = match (args.key_spec, args.number_of_bytes) {
        (_, Some(n)) => KeySpec::Bytes(n),
        (Some(KeySpecArg::Aes128), None) => KeySpec::Aes128,
        (Some(KeySpecArg::Aes256), None) | (None, None) => KeySpec::Aes256,
    };
    let context = encryption_context(&args.context.encryption_context)?;
    let output = ctx.kms.generate_data_key(
        ctx.caller,
        &args.key.key_id,
        spec,
        &context,
        !args.without_plaintext,
    )?;
    let mut response = json!({ "CiphertextBlob": BASE64.encode(&output.ciphertext_blob), "KeyId": output.key_arn });
    let plaintext = output
        .plaintext
        .as_ref()
        .map(|p| Zeroizing::new(BASE64.encode(p.expose())));
    if let Some(plaintext) = &plaintext {
        response["Plaintext"] = json!(plaintext.as_str());
    }
    ctx.print(&response);
    Ok(())
}
