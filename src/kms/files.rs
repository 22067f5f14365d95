//! Data keys of filesystem objects: the requests a mounted volume makes when a
//! file is created or opened. Each is a GenerateDataKey or Decrypt record that
//! names the volume, the file id and the file's path. Also the record of an
//! integrity failure the filesystem found reading a file.

use serde_json::json;

use super::error::KmsError;
use super::{Call, Kms, Operation};
use crate::audit::{AuditEvent, EventType, Record};
use crate::crypto::{DataKey, SecretBytes};
use crate::format::blob::CiphertextBlob;
use crate::model::{Caller, EncryptionContext, KeyId};

pub use crate::format::object::{CONTEXT_FILE, CONTEXT_VOLUME};

/// The file's path inside the volume: shown to policies and in records, but not
/// bound into the wrapped key (a rename must not make a file unreadable).
pub use crate::audit::PATH_CONTEXT_KEY as CONTEXT_PATH;

/// The eventName and errorCode of an integrity failure record.
const INTEGRITY_EVENT: &str = "IntegrityCheckFailed";

/// Which file a data key belongs to.
pub struct FileContext<'a> {
    pub volume_id: &'a str,
    /// 32 lowercase hex digits.
    pub file_id: &'a str,
    /// The path inside the volume, from its root: `/dir/file`.
    pub path: &'a str,
}

impl FileContext<'_> {
    /// The pairs bound as associated data of the wrapped key.
    pub fn bound(&self) -> EncryptionContext {
        let mut context = EncryptionContext::new();
        context.insert(CONTEXT_VOLUME, self.volume_id);
        context.insert(CONTEXT_FILE, self.file_id);
        context
    }

    /// The pairs policies see and records show: the bound ones and the path.
    pub fn visible(&self) -> EncryptionContext {
        let mut context = self.bound();
        context.insert(CONTEXT_PATH, self.path);
        context
    }
}

fn file_params(key: &KeyId, account: &str, file: &FileContext) -> serde_json::Value {
    json!({
        "keyId": key.arn(account).to_string(),
        "encryptionAlgorithm": super::ALGORITHM,
        "encryptionContext": file.visible().to_json(),
        "keySpec": "AES_256",
    })
}

impl Kms {
    /// GenerateDataKey for a new file (or one opened with O_TRUNC): a fresh data
    /// key and its wrapped form for the object header.
    pub fn generate_file_key(
        &self,
        caller: &Caller,
        key: &KeyId,
        file: &FileContext,
    ) -> Result<(DataKey, Vec<u8>), KmsError> {
        let call = Call::new(
            caller,
            Operation::GenerateDataKey,
            file_params(key, self.account(), file),
        );
        self.run(call, |call| {
            let record =
                self.authorized_key(call, &key.to_string(), call.op.action(), &file.visible())?;
            let plaintext =
                SecretBytes::random(DataKey::LEN).map_err(|e| KmsError::internal(e.to_string()))?;
            let wrapped = self.seal_blob(&record, plaintext.expose(), &file.bound())?;
            let data_key = DataKey::from_slice(plaintext.expose())
                .map_err(|e| KmsError::internal(e.to_string()))?;
            Ok((data_key, wrapped))
        })
    }

    /// Decrypt of an existing file's wrapped data key, for the caller opening it.
    pub fn decrypt_file_key(
        &self,
        caller: &Caller,
        file: &FileContext,
        wrapped: &[u8],
    ) -> Result<DataKey, KmsError> {
        let params = json!({
            "encryptionAlgorithm": super::ALGORITHM,
            "encryptionContext": file.visible().to_json(),
        });
        self.run(Call::new(caller, Operation::Decrypt, params), |call| {
            let blob =
                CiphertextBlob::read(wrapped).map_err(|_| super::data::invalid_ciphertext())?;
            call.request_parameters["keyId"] = json!(blob.key_id.arn(self.account()).to_string());
            self.authorized_key(
                call,
                &blob.key_id.to_string(),
                call.op.action(),
                &file.visible(),
            )?;
            let plaintext = self.open_blob(&blob, &file.bound())?;
            DataKey::from_slice(plaintext.expose()).map_err(|_| super::data::invalid_ciphertext())
        })
    }

    /// ReEncrypt of a file's wrapped data key under the newest material of
    /// `destination` (`kmsfs volume rewrap`): one record naming the file; the
    /// data key never leaves the service, so the content is not re-encrypted.
    pub fn re_encrypt_file_key(
        &self,
        caller: &Caller,
        file: &FileContext,
        wrapped: &[u8],
        destination: &KeyId,
    ) -> Result<Vec<u8>, KmsError> {
        let visible = file.visible().to_json();
        let params = json!({
            "destinationKeyId": destination.arn(self.account()).to_string(),
            "sourceEncryptionAlgorithm": super::ALGORITHM,
            "destinationEncryptionAlgorithm": super::ALGORITHM,
            "sourceEncryptionContext": visible,
            "destinationEncryptionContext": visible,
        });
        self.run(Call::new(caller, Operation::ReEncrypt, params), |call| {
            let blob =
                CiphertextBlob::read(wrapped).map_err(|_| super::data::invalid_ciphertext())?;
            call.request_parameters["sourceKeyId"] =
                json!(blob.key_id.arn(self.account()).to_string());
            let context = file.visible();
            self.authorized_key(
                call,
                &blob.key_id.to_string(),
                "kms:ReEncryptFrom",
                &context,
            )?;
            let destination =
                self.authorized_key(call, &destination.to_string(), "kms:ReEncryptTo", &context)?;
            let plaintext = self.open_blob(&blob, &file.bound())?;
            self.seal_blob(&destination, plaintext.expose(), &file.bound())
        })
    }

    /// Whether `wrapped` is sealed under the newest material version of `key`
    /// (a rewrap leaves it alone). Not a request: no key is used.
    pub fn is_newest_wrap(&self, key: &KeyId, wrapped: &[u8]) -> Result<bool, KmsError> {
        let Ok(blob) = CiphertextBlob::read(wrapped) else {
            return Ok(false);
        };
        Ok(blob.key_id == *key && blob.material_version == self.vault.newest_version(key)?)
    }

    /// Records that chunk `chunk_no` of `file`, whose data key `key` wraps,
    /// failed its integrity check when `caller` read it (eventName and
    /// errorCode `IntegrityCheckFailed`). Not a request: nothing is authorized.
    pub fn record_integrity_failure(
        &self,
        caller: &Caller,
        key: &KeyId,
        file: &FileContext,
        chunk_no: u64,
        reason: &str,
    ) -> Result<(), KmsError> {
        let arn = key.arn(self.account()).to_string();
        let request_parameters = json!({
            "keyId": arn,
            "encryptionContext": file.visible().to_json(),
            "chunk": chunk_no,
        });
        let event = AuditEvent {
            caller: Some(caller),
            account_id: self.account(),
            event_name: INTEGRITY_EVENT,
            event_type: EventType::AwsApiCall,
            read_only: true,
            request_parameters,
            response_elements: serde_json::Value::Null,
            resources: vec![arn],
            error: Some((
                INTEGRITY_EVENT,
                format!("chunk {chunk_no} of {}: {reason}", file.path),
            )),
            user_agent: &self.user_agent,
            additional_event_data: None,
        };
        self.append(&Record::new(&event))
    }
}
