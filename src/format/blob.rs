//! The KMS ciphertext blob (docs/FORMAT.md, "KMS ciphertext blob"):
//!
//! ```text
//! magic "KMB1" (4) ‖ version u8 = 1 ‖ cipher u8 ‖ key id (16) ‖ be32(material version)
//!   ‖ nonce (12 or 24) ‖ ciphertext ‖ tag (16)
//! ```
//!
//! The associated data is `header ‖ EncryptionContext::canonical_bytes()`, where
//! header is everything before the nonce: key id, version and cipher are
//! authenticated, and a different encryption context fails to decrypt.

use crate::crypto::{Cipher, TAG_LEN};
use crate::model::KeyId;

use super::{FormatError, Reader};

pub const MAGIC: &[u8; 4] = b"KMB1";
pub const VERSION: u8 = 1;
/// magic + version + cipher + key id + material version.
pub const HEADER_LEN: usize = 4 + 1 + 1 + 16 + 4;
/// AWS's limit on a ciphertext blob.
pub const MAX_BLOB_LEN: usize = 6144;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiphertextBlob {
    pub cipher: Cipher,
    pub key_id: KeyId,
    pub material_version: u32,
    pub nonce: Vec<u8>,
    /// AEAD ciphertext followed by its tag.
    pub sealed: Vec<u8>,
}

impl CiphertextBlob {
    /// The authenticated header bytes (the first part of the associated data).
    pub fn header(cipher: Cipher, key_id: &KeyId, material_version: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.push(cipher.id());
        out.extend_from_slice(key_id.as_bytes());
        out.extend_from_slice(&material_version.to_be_bytes());
        out
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Self::header(self.cipher, &self.key_id, self.material_version);
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.sealed);
        out
    }

    pub fn read(bytes: &[u8]) -> Result<CiphertextBlob, FormatError> {
        const WHAT: &str = "ciphertext blob";
        if bytes.len() > MAX_BLOB_LEN {
            return Err(FormatError::Invalid(format!(
                "ciphertext blob is {} bytes; at most {MAX_BLOB_LEN} are allowed",
                bytes.len()
            )));
        }
        let mut r = Reader::new(bytes, WHAT);
        if r.take(4)? != MAGIC {
            return Err(FormatError::BadMagic { what: WHAT });
        }
        let version = r.u8()?;
        if version != VERSION {
            return Err(FormatError::UnsupportedVersion {
                what: WHAT,
                version: version.into(),
            });
        }
        let cipher_id = r.u8()?;
        let cipher = Cipher::from_id(cipher_id).ok_or(FormatError::UnknownCipher(cipher_id))?;
        let key_id = KeyId::from_bytes(r.array()?);
        let material_version = r.u32()?;
        let nonce = r.take(cipher.nonce_len())?.to_vec();
        if r.remaining() < TAG_LEN {
            return Err(FormatError::Truncated { what: WHAT });
        }
        let sealed = r.rest().to_vec();
        Ok(CiphertextBlob {
            cipher,
            key_id,
            material_version,
            nonce,
            sealed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CiphertextBlob {
        CiphertextBlob {
            cipher: Cipher::Aes256Gcm,
            key_id: KeyId::new_random(),
            material_version: 3,
            nonce: vec![7; 12],
            sealed: vec![9; 20],
        }
    }

    #[test]
    fn round_trip() {
        let blob = sample();
        assert_eq!(CiphertextBlob::read(&blob.encode()).unwrap(), blob);
    }

    #[test]
    fn refuses_bad_input() {
        let bytes = sample().encode();
        let mut bad_magic = bytes.clone();
        bad_magic[0] = b'X';
        assert!(matches!(
            CiphertextBlob::read(&bad_magic),
            Err(FormatError::BadMagic { .. })
        ));
        let mut bad_version = bytes.clone();
        bad_version[4] = 9;
        assert!(matches!(
            CiphertextBlob::read(&bad_version),
            Err(FormatError::UnsupportedVersion { .. })
        ));
        let mut bad_cipher = bytes.clone();
        bad_cipher[5] = 77;
        assert_eq!(
            CiphertextBlob::read(&bad_cipher),
            Err(FormatError::UnknownCipher(77))
        );
        assert!(CiphertextBlob::read(&bytes[..HEADER_LEN + 12 + 15]).is_err());
        assert!(CiphertextBlob::read(&[]).is_err());
        assert!(CiphertextBlob::read(&vec![0; MAX_BLOB_LEN + 1]).is_err());
    }
}
