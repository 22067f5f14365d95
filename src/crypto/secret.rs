//! Secret newtypes: every byte of key material or plaintext in kmsfs lives in one
//! of these. They zeroize on drop, cannot be cloned, and print as `<redacted>`.
//! Must not import anything outside `crypto`.

use std::fmt;
use std::marker::PhantomData;

use zeroize::Zeroizing;

use super::{random_bytes, CryptoError};

/// A 256-bit symmetric key whose role (root, KMS key material, file data key)
/// is part of its type, so that one cannot be passed where another is expected.
pub struct SecretKey<R> {
    bytes: Zeroizing<[u8; 32]>,
    _role: PhantomData<R>,
}

/// The vault root key: wraps every KMS key version at rest.
pub enum RootRole {}
/// One version of a KMS key's material: wraps data keys and KMS ciphertext blobs.
pub enum MaterialRole {}
/// A file's data encryption key (DEK): seals that file's chunks.
pub enum DataRole {}
/// The 32-byte seed of the Ed25519 key that signs audit digest files.
pub enum DigestSigningRole {}

pub type RootKey = SecretKey<RootRole>;
pub type KeyMaterial = SecretKey<MaterialRole>;
pub type DataKey = SecretKey<DataRole>;
pub type DigestSigningSeed = SecretKey<DigestSigningRole>;

impl<R> SecretKey<R> {
    pub const LEN: usize = 32;

    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        random_bytes(bytes.as_mut())?;
        Ok(Self {
            bytes,
            _role: PhantomData,
        })
    }

    /// A key from exactly 32 bytes (for example a key file, or an unwrapped key).
    pub fn from_slice(slice: &[u8]) -> Result<Self, CryptoError> {
        if slice.len() != Self::LEN {
            return Err(CryptoError::InvalidKeyLength);
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        bytes.copy_from_slice(slice);
        Ok(Self {
            bytes,
            _role: PhantomData,
        })
    }

    /// The raw key, for the AEADs in this module and for wrapping under another key.
    pub(crate) fn expose(&self) -> &[u8; 32] {
        &self.bytes
    }
}

impl<R> fmt::Debug for SecretKey<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Variable-length secret bytes: plaintexts, data keys of arbitrary length
/// (`generate-data-key --number-of-bytes`), passphrases.
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Fresh random bytes from the operating system.
    pub fn random(len: usize) -> Result<Self, CryptoError> {
        let mut bytes = Zeroizing::new(vec![0u8; len]);
        random_bytes(&mut bytes)?;
        Ok(Self(bytes))
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Zeroizing<Vec<u8>>> for SecretBytes {
    fn from(bytes: Zeroizing<Vec<u8>>) -> Self {
        Self(bytes)
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}
