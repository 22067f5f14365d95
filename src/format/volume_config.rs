//! The volume config, the JSON file `kmsfs.volume` at the root of a backing
//! directory (docs/FORMAT.md, "Volume config"): encoding, strict parsing, and
//! the encryption context that binds the wrapped name key to the config.
//! Pure: no I/O, and must not import `volume` or the KMS; callers read the
//! file and prefix errors with its path.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::crypto::Cipher;
use crate::model::{EncryptionContext, KeyId};

use super::blob::CiphertextBlob;
use super::object::{check_chunk_size, CONTEXT_VOLUME};
use super::FormatError;

/// The config's file name in the backing root.
pub const CONFIG_FILE: &str = "kmsfs.volume";
pub const FORMAT_VERSION: u32 = 1;
/// Encryption context keys of the wrapped name key (with [`CONTEXT_VOLUME`]).
pub const CONTEXT_PURPOSE: &str = "kmsfs:purpose";
pub const PURPOSE_NAMES: &str = "names";
pub const CONTEXT_CONFIG: &str = "kmsfs:config";

const WHAT: &str = "volume config";

/// A volume's id: a random UUID, printed hyphenated and lowercase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VolumeId(uuid::Uuid);

impl VolumeId {
    pub fn new_random() -> VolumeId {
        VolumeId(uuid::Uuid::new_v4())
    }
}

impl fmt::Display for VolumeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.hyphenated())
    }
}

impl FromStr for VolumeId {
    type Err = FormatError;
    fn from_str(s: &str) -> Result<VolumeId, FormatError> {
        // Only the hyphenated form, so that each id has one spelling.
        match uuid::Uuid::parse_str(s) {
            Ok(id) if s.len() == 36 => Ok(VolumeId(id)),
            _ => Err(FormatError::Invalid(format!(
                "volumeId '{s}' is not a UUID"
            ))),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeConfig {
    pub volume_id: VolumeId,
    pub key_id: KeyId,
    pub cipher: Cipher,
    /// Plaintext bytes per chunk of every new object.
    pub chunk_size: u32,
    /// The 64-byte name key as a KMS ciphertext blob (context: [`VolumeConfig::name_key_context`]).
    pub wrapped_name_key: Vec<u8>,
    pub created: DateTime<Utc>,
}

/// The JSON shape, field for field; [`VolumeConfig`] is its checked form.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConfigJson {
    format_version: u32,
    volume_id: String,
    key_id: String,
    cipher: String,
    chunk_size: u64,
    wrapped_name_key: String,
    created: String,
}

impl VolumeConfig {
    /// Pretty-printed JSON with a final newline.
    pub fn encode(&self) -> String {
        let json = ConfigJson {
            format_version: FORMAT_VERSION,
            volume_id: self.volume_id.to_string(),
            key_id: self.key_id.to_string(),
            cipher: self.cipher.name().to_string(),
            chunk_size: self.chunk_size.into(),
            wrapped_name_key: BASE64.encode(&self.wrapped_name_key),
            created: self.created.to_rfc3339_opts(SecondsFormat::Secs, true),
        };
        let mut text = serde_json::to_string_pretty(&json)
            .expect("BUG: a struct of strings and numbers always serializes");
        text.push('\n');
        text
    }

    /// Parses and checks every field; the error names the field and its value.
    pub fn parse(text: &str) -> Result<VolumeConfig, FormatError> {
        let invalid = |e: serde_json::Error| FormatError::Invalid(e.to_string());
        // The version first: a newer format may have fields this one refuses.
        let value: serde_json::Value = serde_json::from_str(text).map_err(invalid)?;
        if let Some(version) = value.get("formatVersion").and_then(|v| v.as_u64()) {
            if version != u64::from(FORMAT_VERSION) {
                return Err(FormatError::UnsupportedVersion {
                    what: WHAT,
                    version: u32::try_from(version).unwrap_or(u32::MAX),
                });
            }
        }
        let json: ConfigJson = serde_json::from_str(text).map_err(invalid)?;
        if json.format_version != FORMAT_VERSION {
            return Err(FormatError::UnsupportedVersion {
                what: WHAT,
                version: json.format_version,
            });
        }
        let key_id = json
            .key_id
            .parse::<KeyId>()
            .map_err(|e| FormatError::Invalid(format!("keyId: {e}")))?;
        let cipher = Cipher::from_name(&json.cipher).ok_or_else(|| {
            FormatError::Invalid(format!(
                "cipher '{}' is not one of {}, {}",
                json.cipher,
                Cipher::Aes256Gcm,
                Cipher::XChaCha20Poly1305
            ))
        })?;
        let wrapped_name_key = BASE64.decode(&json.wrapped_name_key).map_err(|_| {
            FormatError::Invalid("wrappedNameKey is not standard base64".to_string())
        })?;
        CiphertextBlob::read(&wrapped_name_key)
            .map_err(|e| FormatError::Invalid(format!("wrappedNameKey: {e}")))?;
        let created = DateTime::parse_from_rfc3339(&json.created)
            .map_err(|_| {
                FormatError::Invalid(format!(
                    "created '{}' is not an RFC 3339 time",
                    json.created
                ))
            })?
            .with_timezone(&Utc);
        Ok(VolumeConfig {
            volume_id: json.volume_id.parse()?,
            key_id,
            cipher,
            chunk_size: check_chunk_size("chunkSize", json.chunk_size)?,
            wrapped_name_key,
            created,
        })
    }

    /// The fields that decide how the volume is read, as one canonical string:
    /// `formatVersion=1;keyId=<uuid>;cipher=<name>;chunkSize=<n>`.
    pub fn config_binding(&self) -> String {
        format!(
            "formatVersion={FORMAT_VERSION};keyId={};cipher={};chunkSize={}",
            self.key_id, self.cipher, self.chunk_size
        )
    }

    /// The encryption context the KMS binds to the wrapped name key, so that an
    /// edit of any bound field makes the name key fail to unwrap:
    /// `{"kmsfs:volume": id, "kmsfs:purpose": "names", "kmsfs:config": binding}`.
    pub fn name_key_context(&self) -> EncryptionContext {
        let mut context = EncryptionContext::new();
        context.insert(CONTEXT_VOLUME, self.volume_id.to_string());
        context.insert(CONTEXT_PURPOSE, PURPOSE_NAMES);
        context.insert(CONTEXT_CONFIG, self.config_binding());
        context
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> VolumeConfig {
        VolumeConfig {
            volume_id: "6f0d2c1e-1c1a-4c52-9b0e-0d7f8a3b9e11".parse().unwrap(),
            key_id: "1234abcd-12ab-34cd-56ef-1234567890ab".parse().unwrap(),
            cipher: Cipher::Aes256Gcm,
            chunk_size: 32768,
            wrapped_name_key: CiphertextBlob {
                cipher: Cipher::Aes256Gcm,
                key_id: "1234abcd-12ab-34cd-56ef-1234567890ab".parse().unwrap(),
                material_version: 1,
                nonce: vec![1; 12],
                sealed: vec![2; 80],
            }
            .encode(),
            created: DateTime::parse_from_rfc3339("2025-03-01T12:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
        }
    }

    #[test]
    fn config_round_trips_with_the_documented_field_names() {
        let config = sample();
        let text = config.encode();
        assert!(text.ends_with("}\n"));
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "formatVersion",
                "volumeId",
                "keyId",
                "cipher",
                "chunkSize",
                "wrappedNameKey",
                "created"
            ]
        );
        assert_eq!(value["cipher"], "aes-256-gcm");
        assert_eq!(value["created"], "2025-03-01T12:00:00Z");
        assert_eq!(VolumeConfig::parse(&text).unwrap(), config);
    }

    fn parse_edited(field: &str, value: serde_json::Value) -> String {
        let mut json: serde_json::Value = serde_json::from_str(&sample().encode()).unwrap();
        json[field] = value;
        VolumeConfig::parse(&json.to_string())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn hand_edits_are_refused_with_a_precise_message() {
        use serde_json::json;
        assert_eq!(
            parse_edited("chunkSize", json!(1000)),
            "chunkSize 1000 is not a power of two between 4096 and 1048576"
        );
        assert_eq!(
            parse_edited("formatVersion", json!(2)),
            "unsupported volume config version 2 (this kmsfs reads older versions only)"
        );
        assert_eq!(
            parse_edited("cipher", json!("aes-128-cbc")),
            "cipher 'aes-128-cbc' is not one of aes-256-gcm, xchacha20-poly1305"
        );
        assert_eq!(
            parse_edited("volumeId", json!("nope")),
            "volumeId 'nope' is not a UUID"
        );
        assert_eq!(
            parse_edited("keyId", json!("alias/x")),
            "keyId: invalid key id 'alias/x': expected a UUID"
        );
        assert_eq!(
            parse_edited("wrappedNameKey", json!("!!")),
            "wrappedNameKey is not standard base64"
        );
        assert_eq!(
            parse_edited("wrappedNameKey", json!("QUJDRA==")),
            "wrappedNameKey: not a ciphertext blob (bad magic)"
        );
        assert_eq!(
            parse_edited("created", json!("yesterday")),
            "created 'yesterday' is not an RFC 3339 time"
        );
        assert!(parse_edited("extra", json!(1)).starts_with("unknown field `extra`"));
        assert!(parse_edited("chunkSize", json!("big")).starts_with("invalid type"));
        let mut missing: serde_json::Value = serde_json::from_str(&sample().encode()).unwrap();
        missing.as_object_mut().unwrap().remove("keyId");
        assert!(VolumeConfig::parse(&missing.to_string())
            .unwrap_err()
            .to_string()
            .starts_with("missing field `keyId`"));
        assert!(VolumeConfig::parse("not json").is_err());
    }

    #[test]
    fn binding_changes_with_every_bound_field_and_only_those() {
        let config = sample();
        assert_eq!(
            config.config_binding(),
            "formatVersion=1;keyId=1234abcd-12ab-34cd-56ef-1234567890ab;cipher=aes-256-gcm;chunkSize=32768"
        );
        let context = config.name_key_context();
        assert_eq!(
            context.get("kmsfs:volume"),
            Some("6f0d2c1e-1c1a-4c52-9b0e-0d7f8a3b9e11")
        );
        assert_eq!(context.get("kmsfs:purpose"), Some("names"));
        assert_eq!(
            context.get("kmsfs:config"),
            Some(config.config_binding().as_str())
        );
        let edits = [
            VolumeConfig {
                key_id: KeyId::new_random(),
                ..sample()
            },
            VolumeConfig {
                cipher: Cipher::XChaCha20Poly1305,
                ..sample()
            },
            VolumeConfig {
                chunk_size: 65536,
                ..sample()
            },
            VolumeConfig {
                volume_id: VolumeId::new_random(),
                ..sample()
            },
        ];
        for edited in edits {
            assert_ne!(edited.name_key_context(), context);
        }
        let created_later = VolumeConfig {
            created: Utc::now(),
            ..sample()
        };
        assert_eq!(created_later.name_key_context(), context);
    }
}
