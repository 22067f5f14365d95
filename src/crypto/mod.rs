//! The cryptographic core: AEAD seal/open for both ciphers, key newtypes, the
//! passphrase KDF and the OS random source. The only user of aes-gcm, aws-lc-rs,
//! chacha20, chacha20poly1305, aes-siv and argon2. Knows nothing of FUSE, SQLite or the KMS.

mod chunk;
mod names;
mod secret;

pub use chunk::ContentKey;
pub use names::NameKey;
pub use secret::{DataKey, DigestSigningSeed, KeyMaterial, RootKey, SecretBytes, SecretKey};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce as GcmNonce};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use std::fmt;
use subtle::ConstantTimeEq;

/// Authentication tag length of both AEADs, in bytes.
pub const TAG_LEN: usize = 16;

/// The content ciphers a volume or blob may use. The numeric ids are part of the
/// on-disk formats (docs/FORMAT.md) and never change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cipher {
    Aes256Gcm,
    XChaCha20Poly1305,
}

impl Cipher {
    pub const ALL: [Cipher; 2] = [Cipher::Aes256Gcm, Cipher::XChaCha20Poly1305];

    /// The id stored on disk.
    pub fn id(self) -> u8 {
        match self {
            Cipher::Aes256Gcm => 1,
            Cipher::XChaCha20Poly1305 => 2,
        }
    }

    pub fn from_id(id: u8) -> Option<Cipher> {
        Cipher::ALL.into_iter().find(|c| c.id() == id)
    }

    /// The name used on the command line and in configs.
    pub fn name(self) -> &'static str {
        match self {
            Cipher::Aes256Gcm => "aes-256-gcm",
            Cipher::XChaCha20Poly1305 => "xchacha20-poly1305",
        }
    }

    pub fn from_name(name: &str) -> Option<Cipher> {
        Cipher::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Nonce length in bytes: 96 bits for AES-GCM, 192 bits for XChaCha20.
    pub fn nonce_len(self) -> usize {
        match self {
            Cipher::Aes256Gcm => 12,
            Cipher::XChaCha20Poly1305 => 24,
        }
    }
}

impl fmt::Display for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Deliberately opaque: an attacker learns nothing from which check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CryptoError {
    /// The tag did not verify: wrong key, wrong associated data, or tampered bytes.
    Authentication,
    InvalidKeyLength,
    InvalidNonceLength,
    /// The operating system's random source failed.
    Random,
    /// The passphrase KDF rejected its parameters.
    Kdf,
}

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CryptoError::Authentication => "authentication failed",
            CryptoError::InvalidKeyLength => "invalid key length",
            CryptoError::InvalidNonceLength => "invalid nonce length",
            CryptoError::Random => "the operating system's random source failed",
            CryptoError::Kdf => "invalid passphrase KDF parameters",
        })
    }
}

impl std::error::Error for CryptoError {}

/// Fills `buf` from the operating system's random source (getrandom(2)).
pub fn random_bytes(buf: &mut [u8]) -> Result<(), CryptoError> {
    getrandom::getrandom(buf).map_err(|_| CryptoError::Random)
}

/// A sealed message: a fresh random nonce and `ciphertext ‖ tag`.
pub struct Sealed {
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// `seal[key](plaintext, aad)` with a fresh random nonce from the OS.
pub fn seal<R>(
    key: &SecretKey<R>,
    cipher: Cipher,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Sealed, CryptoError> {
    let mut nonce = vec![0u8; cipher.nonce_len()];
    random_bytes(&mut nonce)?;
    let payload = Payload {
        msg: plaintext,
        aad,
    };
    let ciphertext = match cipher {
        Cipher::Aes256Gcm => {
            Aes256Gcm::new(key.expose().into()).encrypt(GcmNonce::from_slice(&nonce), payload)
        }
        Cipher::XChaCha20Poly1305 => {
            XChaCha20Poly1305::new(key.expose().into()).encrypt(XNonce::from_slice(&nonce), payload)
        }
    }
    .map_err(|_| CryptoError::Authentication)?;
    Ok(Sealed { nonce, ciphertext })
}

/// `open[key](nonce, ciphertext ‖ tag, aad)`: the plaintext, or an error if the
/// tag does not verify. Never returns unauthenticated bytes.
pub fn open<R>(
    key: &SecretKey<R>,
    cipher: Cipher,
    nonce: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<SecretBytes, CryptoError> {
    if nonce.len() != cipher.nonce_len() {
        return Err(CryptoError::InvalidNonceLength);
    }
    let payload = Payload {
        msg: ciphertext,
        aad,
    };
    let plaintext = match cipher {
        Cipher::Aes256Gcm => {
            Aes256Gcm::new(key.expose().into()).decrypt(GcmNonce::from_slice(nonce), payload)
        }
        Cipher::XChaCha20Poly1305 => {
            XChaCha20Poly1305::new(key.expose().into()).decrypt(XNonce::from_slice(nonce), payload)
        }
    }
    .map_err(|_| CryptoError::Authentication)?;
    Ok(SecretBytes::new(plaintext))
}

/// Wraps one key under another: `seal[wrapping](key bytes, aad)`.
pub fn wrap_key<W, R>(
    wrapping: &SecretKey<W>,
    cipher: Cipher,
    aad: &[u8],
    key: &SecretKey<R>,
) -> Result<Sealed, CryptoError> {
    seal(wrapping, cipher, aad, key.expose())
}

/// Unwraps a key sealed by [`wrap_key`]; the result is typed by its role.
pub fn unwrap_key<W, R>(
    wrapping: &SecretKey<W>,
    cipher: Cipher,
    nonce: &[u8],
    aad: &[u8],
    wrapped: &[u8],
) -> Result<SecretKey<R>, CryptoError> {
    let bytes = open(wrapping, cipher, nonce, aad, wrapped)?;
    SecretKey::from_slice(bytes.expose())
}

/// Argon2id cost parameters, stored beside the salt so that they can be raised later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for KdfParams {
    /// OWASP's first Argon2id recommendation (46 MiB, 1 pass, 1 lane).
    fn default() -> Self {
        KdfParams {
            memory_kib: 47_104,
            iterations: 1,
            parallelism: 1,
        }
    }
}

/// `RootKey = Argon2id(passphrase, salt, params)`.
pub fn derive_root_key(
    passphrase: &SecretBytes,
    salt: &[u8],
    params: KdfParams,
) -> Result<RootKey, CryptoError> {
    let argon_params = argon2::Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        Some(RootKey::LEN),
    )
    .map_err(|_| CryptoError::Kdf)?;
    let argon = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon_params,
    );
    let mut out = zeroize::Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase.expose(), salt, out.as_mut())
        .map_err(|_| CryptoError::Kdf)?;
    RootKey::from_slice(out.as_ref())
}

/// Compares two secrets (tokens, tags, digests) in constant time.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_for_both_ciphers() {
        for cipher in Cipher::ALL {
            let key = DataKey::generate().unwrap();
            let sealed = seal(&key, cipher, b"aad", b"hello").unwrap();
            assert_eq!(sealed.nonce.len(), cipher.nonce_len());
            assert_eq!(sealed.ciphertext.len(), 5 + TAG_LEN);
            let opened = open(&key, cipher, &sealed.nonce, b"aad", &sealed.ciphertext).unwrap();
            assert_eq!(opened.expose(), b"hello");
        }
    }

    #[test]
    fn tampering_is_refused_for_both_ciphers() {
        for cipher in Cipher::ALL {
            let key = DataKey::generate().unwrap();
            let other = DataKey::generate().unwrap();
            let sealed = seal(&key, cipher, b"aad", b"hello").unwrap();
            let mut flipped = sealed.ciphertext.clone();
            flipped[0] ^= 1;
            let mut bad_nonce = sealed.nonce.clone();
            bad_nonce[0] ^= 1;
            let fail = CryptoError::Authentication;
            assert_eq!(
                open(&key, cipher, &sealed.nonce, b"aad", &flipped).unwrap_err(),
                fail
            );
            assert_eq!(
                open(&key, cipher, &sealed.nonce, b"aaD", &sealed.ciphertext).unwrap_err(),
                fail
            );
            assert_eq!(
                open(&key, cipher, &bad_nonce, b"aad", &sealed.ciphertext).unwrap_err(),
                fail
            );
            assert_eq!(
                open(&other, cipher, &sealed.nonce, b"aad", &sealed.ciphertext).unwrap_err(),
                fail
            );
        }
    }

    #[test]
    fn nonces_are_fresh() {
        let key = DataKey::generate().unwrap();
        let a = seal(&key, Cipher::Aes256Gcm, b"", b"x").unwrap();
        let b = seal(&key, Cipher::Aes256Gcm, b"", b"x").unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
    }

    #[test]
    fn wrapped_key_unwraps_to_the_same_key() {
        let root = RootKey::generate().unwrap();
        let material = KeyMaterial::generate().unwrap();
        let sealed = wrap_key(&root, Cipher::Aes256Gcm, b"id", &material).unwrap();
        let back: KeyMaterial = unwrap_key(
            &root,
            Cipher::Aes256Gcm,
            &sealed.nonce,
            b"id",
            &sealed.ciphertext,
        )
        .unwrap();
        assert!(constant_time_eq(back.expose(), material.expose()));
        assert!(unwrap_key::<_, KeyMaterial>(
            &root,
            Cipher::Aes256Gcm,
            &sealed.nonce,
            b"other",
            &sealed.ciphertext
        )
        .is_err());
    }

    #[test]
    fn passphrase_derivation_is_deterministic_and_salted() {
        let params = KdfParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        };
        let pass = SecretBytes::new(b"correct horse".to_vec());
        let a = derive_root_key(&pass, b"salt-salt-salt-1", params).unwrap();
        let b = derive_root_key(&pass, b"salt-salt-salt-1", params).unwrap();
        let c = derive_root_key(&pass, b"salt-salt-salt-2", params).unwrap();
        assert!(constant_time_eq(a.expose(), b.expose()));
        assert!(!constant_time_eq(a.expose(), c.expose()));
    }

    #[test]
    fn secrets_do_not_print() {
        let key = DataKey::generate().unwrap();
        assert_eq!(format!("{key:?}"), "<redacted>");
        assert_eq!(format!("{:?}", SecretBytes::new(vec![1, 2])), "<redacted>");
    }
}
