//! Name keys: deterministic authenticated encryption of file names and symlink
//! targets with AES-SIV (RFC 5297; AES-256-SIV, CMAC, a 64-byte key).
//! Deterministic, so that a plaintext name has exactly one on-disk name and a
//! lookup needs no directory scan; the associated data keeps equal names in
//! different contexts apart (docs/FORMAT.md, "Names").
//! Must not import anything outside `crypto`.

use aes_siv::aead::{generic_array::GenericArray, KeyInit};
use aes_siv::siv::Aes256Siv;
use zeroize::Zeroizing;

use super::{CryptoError, SecretBytes};

/// A volume's name key. Zeroizes on drop; no Clone, no Debug.
pub struct NameKey(Zeroizing<[u8; NameKey::LEN]>);

impl NameKey {
    pub const LEN: usize = 64;

    /// A name key from exactly 64 secret bytes (an unwrapped KMS data key).
    pub fn from_secret(bytes: &SecretBytes) -> Result<NameKey, CryptoError> {
        if bytes.len() != Self::LEN {
            return Err(CryptoError::InvalidKeyLength);
        }
        let mut key = Zeroizing::new([0u8; Self::LEN]);
        key.copy_from_slice(bytes.expose());
        Ok(NameKey(key))
    }

    /// Whether `other` is the same key (constant time).
    pub fn is_same_key(&self, other: &NameKey) -> bool {
        super::constant_time_eq(&self.0[..], &other.0[..])
    }

    /// A fresh random name key (tests, and volumes made without a KMS).
    pub fn generate() -> Result<NameKey, CryptoError> {
        NameKey::from_secret(&SecretBytes::random(Self::LEN)?)
    }

    // The SIV object carries its own copy of the key schedule and zeroizes it
    // on drop; it is cheap to build and needs `&mut`, so one per call.
    fn siv(&self) -> Aes256Siv {
        Aes256Siv::new(GenericArray::from_slice(&self.0[..]))
    }

    /// `SIV[name key](plaintext, ad = associated[0], associated[1], ...)`:
    /// the 16-byte synthetic IV followed by the ciphertext.
    pub fn seal(&self, associated: &[&[u8]], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.siv()
            .encrypt(associated, plaintext)
            .map_err(|_| CryptoError::Authentication)
    }

    /// Inverse of [`NameKey::seal`]: the plaintext, or an error if the synthetic
    /// IV does not verify for this key and associated data.
    pub fn open(&self, associated: &[&[u8]], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.siv()
            .decrypt(associated, sealed)
            .map_err(|_| CryptoError::Authentication)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_64_byte_secrets_make_a_name_key() {
        assert!(NameKey::from_secret(&SecretBytes::new(vec![1; 64])).is_ok());
        for len in [0, 32, 63, 65] {
            assert_eq!(
                NameKey::from_secret(&SecretBytes::new(vec![1; len])).err(),
                Some(CryptoError::InvalidKeyLength)
            );
        }
    }

    #[test]
    fn sealing_is_deterministic_and_separated_by_associated_data() {
        let key = NameKey::generate().unwrap();
        let a = key.seal(&[b"dir-1"], b"report.txt").unwrap();
        assert_eq!(a, key.seal(&[b"dir-1"], b"report.txt").unwrap());
        assert_eq!(a.len(), 16 + 10);
        assert_ne!(a, key.seal(&[b"dir-2"], b"report.txt").unwrap());
        assert_ne!(a, key.seal(&[b"x", b"dir-1"], b"report.txt").unwrap());
        assert_eq!(key.open(&[b"dir-1"], &a).unwrap(), b"report.txt");
    }

    #[test]
    fn tampering_wrong_context_and_wrong_key_are_refused() {
        let key = NameKey::generate().unwrap();
        let sealed = key.seal(&[b"dir-1"], b"report.txt").unwrap();
        for i in 0..sealed.len() {
            let mut flipped = sealed.clone();
            flipped[i] ^= 1;
            assert!(key.open(&[b"dir-1"], &flipped).is_err(), "byte {i}");
        }
        assert!(key.open(&[b"dir-2"], &sealed).is_err());
        assert!(key.open(&[], &sealed).is_err());
        assert!(NameKey::generate()
            .unwrap()
            .open(&[b"dir-1"], &sealed)
            .is_err());
        assert!(key.open(&[b"dir-1"], &sealed[..15]).is_err());
    }
}
