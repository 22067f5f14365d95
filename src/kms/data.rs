//! The data plane: Encrypt, Decrypt, ReEncrypt, GenerateDataKey(WithoutPlaintext).
//! Ciphertext blobs are `format::blob` sealed under the newest material version.

use serde_json::{json, Value};

use super::error::{ErrorCode, KmsError};
use super::{Call, Kms, Operation};
use crate::crypto::{self, Cipher, SecretBytes};
use crate::format::blob::CiphertextBlob;
use crate::model::{Caller, EncryptionContext};
use crate::vault::{KeyRecord, VaultError};

/// AWS's limit on Encrypt's plaintext.
pub const MAX_PLAINTEXT_LEN: usize = 4096;
/// AWS's limit on GenerateDataKey's NumberOfBytes.
pub const MAX_DATA_KEY_BYTES: usize = 1024;
/// The algorithm name AWS records for symmetric keys.
pub const ALGORITHM: &str = "SYMMETRIC_DEFAULT";
/// Blobs are sealed with AES-256-GCM, as AWS's SYMMETRIC_DEFAULT.
const BLOB_CIPHER: Cipher = Cipher::Aes256Gcm;

/// GenerateDataKey's size: a key spec or a number of bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySpec {
    Aes256,
    Aes128,
    Bytes(usize),
}

impl KeySpec {
    fn len(self) -> usize {
        match self {
            KeySpec::Aes256 => 32,
            KeySpec::Aes128 => 16,
            KeySpec::Bytes(n) => n,
        }
    }

    fn request_parameter(self) -> (&'static str, Value) {
        match self {
            KeySpec::Aes256 => ("keySpec", json!("AES_256")),
            KeySpec::Aes128 => ("keySpec", json!("AES_128")),
            KeySpec::Bytes(n) => ("numberOfBytes", json!(n)),
        }
    }
}

/// Decrypt's answer. The plaintext stays in a zeroizing buffer.
pub struct DecryptOutput {
    pub key_arn: String,
    pub plaintext: SecretBytes,
}

/// Encrypt's and ReEncrypt's answer.
pub struct EncryptOutput {
    pub key_arn: String,
    pub ciphertext_blob: Vec<u8>,
    /// ReEncrypt only: the key the ciphertext was under before.
    pub source_key_arn: Option<String>,
}

/// GenerateDataKey's answer; `plaintext` is `None` for the WithoutPlaintext variant.
pub struct DataKeyOutput {
    pub key_arn: String,
    pub ciphertext_blob: Vec<u8>,
    pub plaintext: Option<SecretBytes>,
}

pub(super) fn invalid_ciphertext() -> KmsError {
    KmsError::new(
        ErrorCode::InvalidCiphertext,
        "the ciphertext is invalid, was made under another encryption context, or was changed",
    )
}

fn data_params(key: &str, context: &EncryptionContext) -> Value {
    json!({ "keyId": key, "encryptionAlgorithm": ALGORITHM, "encryptionContext": context.to_json() })
}

impl Kms {
    pub fn encrypt(
        &self,
        caller: &Caller,
        key: &str,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<EncryptOutput, KmsError> {
        let call = Call::new(caller, Operation::Encrypt, data_params(key, context));
        self.run(call, |call| {
            if plaintext.is_empty() || plaintext.len() > MAX_PLAINTEXT_LEN {
                return Err(KmsError::validation(format!(
                    "the plaintext is {} bytes; Encrypt takes 1 to {MAX_PLAINTEXT_LEN} bytes",
                    plaintext.len()
                )));
            }
            let record = self.authorized_key(call, key, call.op.action(), context)?;
            Ok(EncryptOutput {
                key_arn: record.key_id.arn(self.account()).to_string(),
                ciphertext_blob: self.seal_blob(&record, plaintext, context)?,
                source_key_arn: None,
            })
        })
    }

    /// Decrypt: the key comes from the blob; `expected_key`, when given, must name the same key.
    pub fn decrypt(
        &self,
        caller: &Caller,
        blob: &[u8],
        context: &EncryptionContext,
        expected_key: Option<&str>,
    ) -> Result<DecryptOutput, KmsError> {
        let mut params =
            json!({ "encryptionAlgorithm": ALGORITHM, "encryptionContext": context.to_json() });
        if let Some(key) = expected_key {
            params["keyId"] = json!(key);
        }
        self.run(Call::new(caller, Operation::Decrypt, params), |call| {
            let parsed = CiphertextBlob::read(blob).map_err(|_| invalid_ciphertext())?;
            let arn = parsed.key_id.arn(self.account()).to_string();
            call.request_parameters["keyId"] = json!(arn);
            if let Some(expected) = expected_key {
                let named = self.resolve(expected)?;
                if named.key_id != parsed.key_id {
                    call.resources.push(arn.clone());
                    return Err(KmsError::new(
                        ErrorCode::IncorrectKey,
                        format!("the ciphertext was made under {arn}, not under the key named by '{expected}'"),
                    ));
                }
            }
            self.authorized_key(call, &parsed.key_id.to_string(), call.op.action(), context)?;
            let plaintext = self.open_blob(&parsed, context)?;
            Ok(DecryptOutput { key_arn: arn, plaintext })
        })
    }

    /// ReEncrypt: decrypts under the source key and encrypts under the destination,
    /// without the plaintext leaving the service.
    pub fn re_encrypt(
        &self,
        caller: &Caller,
        blob: &[u8],
        source_context: &EncryptionContext,
        destination_key: &str,
        destination_context: &EncryptionContext,
    ) -> Result<EncryptOutput, KmsError> {
        let params = json!({
            "destinationKeyId": destination_key,
            "sourceEncryptionAlgorithm": ALGORITHM,
            "destinationEncryptionAlgorithm": ALGORITHM,
            "sourceEncryptionContext": source_context.to_json(),
            "destinationEncryptionContext": destination_context.to_json(),
        });
        self.run(Call::new(caller, Operation::ReEncrypt, params), |call| {
            let parsed = CiphertextBlob::read(blob).map_err(|_| invalid_ciphertext())?;
            let source_arn = parsed.key_id.arn(self.account()).to_string();
            call.request_parameters["sourceKeyId"] = json!(source_arn);
            self.authorized_key(
                call,
                &parsed.key_id.to_string(),
                "kms:ReEncryptFrom",
                source_context,
            )?;
            let destination = self.authorized_key(
                call,
                destination_key,
                "kms:ReEncryptTo",
                destination_context,
            )?;
            let plaintext = self.open_blob(&parsed, source_context)?;
            Ok(EncryptOutput {
                key_arn: destination.key_id.arn(self.account()).to_string(),
                ciphertext_blob: self.seal_blob(
                    &destination,
                    plaintext.expose(),
                    destination_context,
                )?,
                source_key_arn: Some(source_arn),
            })
        })
    }

    pub fn generate_data_key(
        &self,
        caller: &Caller,
        key: &str,
        spec: KeySpec,
        context: &EncryptionContext,
        with_plaintext: bool,
    ) -> Result<DataKeyOutput, KmsError> {
        let op = if with_plaintext {
            Operation::GenerateDataKey
        } else {
            Operation::GenerateDataKeyWithoutPlaintext
        };
        let mut params = data_params(key, context);
        let (name, value) = spec.request_parameter();
        params[name] = value;
        self.run(Call::new(caller, op, params), |call| {
            if spec.len() == 0 || spec.len() > MAX_DATA_KEY_BYTES {
                return Err(KmsError::validation(format!(
                    "1 validation error detected: Value '{}' at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and {MAX_DATA_KEY_BYTES} (inclusive)",
                    spec.len()
                )));
            }
            let record = self.authorized_key(call, key, call.op.action(), context)?;
            let data_key = SecretBytes::random(spec.len()).map_err(|e| KmsError::internal(e.to_string()))?;
            let ciphertext_blob = self.seal_blob(&record, data_key.expose(), context)?;
            Ok(DataKeyOutput {
                key_arn: record.key_id.arn(self.account()).to_string(),
                ciphertext_blob,
                plaintext: with_plaintext.then_some(data_key),
            })
        })
    }

    /// `seal[material(newest)](plaintext, aad = blob header ‖ canonical(context))`.
    pub(super) fn seal_blob(
        &self,
        key: &KeyRecord,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Vec<u8>, KmsError> {
        let version = self.vault.newest_version(&key.key_id)?;
        let material = self.vault.material(&key.key_id, version)?;
        let mut aad = CiphertextBlob::header(BLOB_CIPHER, &key.key_id, version);
        aad.extend_from_slice(&context.canonical_bytes());
        let sealed = crypto::seal(&material, BLOB_CIPHER, &aad, plaintext)
            .map_err(|e| KmsError::internal(e.to_string()))?;
        Ok(CiphertextBlob {
            cipher: BLOB_CIPHER,
            key_id: key.key_id,
            material_version: version,
            nonce: sealed.nonce,
            sealed: sealed.ciphertext,
        }
        .encode())
    }

    pub(super) fn open_blob(
        &self,
        blob: &CiphertextBlob,
        context: &EncryptionContext,
    ) -> Result<SecretBytes, KmsError> {
        let material = match self.vault.material(&blob.key_id, blob.material_version) {
            Ok(material) => material,
            Err(VaultError::NoSuchMaterial { .. }) => return Err(invalid_ciphertext()),
            Err(other) => return Err(other.into()),
        };
        let mut aad = CiphertextBlob::header(blob.cipher, &blob.key_id, blob.material_version);
        aad.extend_from_slice(&context.canonical_bytes());
        crypto::open(&material, blob.cipher, &blob.nonce, &aad, &blob.sealed)
            .map_err(|_| invalid_ciphertext())
    }
}
