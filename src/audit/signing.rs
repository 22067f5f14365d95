//! The Ed25519 key that signs digest files (docs/AUDIT.md, "Signing"): signing
//! with the seed the vault keeps, and checking with the public key alone, as
//! an auditor with `kmsfs audit public-key`'s PEM would. The only user of
//! ed25519-dalek.

use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::crypto::DigestSigningSeed;

/// `digestSignatureAlgorithm` of every digest.
pub const SIGNATURE_ALGORITHM: &str = "Ed25519";

/// DER SubjectPublicKeyInfo of an Ed25519 key (RFC 8410) without its 32 key bytes:
/// SEQUENCE { SEQUENCE { OID 1.3.101.112 } BIT STRING { key } }.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Signs digests. Built from the vault's seed; zeroized on drop.
pub struct DigestSigner {
    key: SigningKey,
}

impl DigestSigner {
    pub fn new(seed: &DigestSigningSeed) -> DigestSigner {
        DigestSigner {
            key: SigningKey::from_bytes(seed.expose()),
        }
    }

    /// The Ed25519 signature of `message`, in lowercase hex (128 digits).
    pub(super) fn sign_hex(&self, message: &[u8]) -> String {
        hex::encode(self.key.sign(message).to_bytes())
    }

    pub fn public_key(&self) -> DigestPublicKey {
        DigestPublicKey {
            key: self.key.verifying_key(),
        }
    }
}

/// Checks digest signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigestPublicKey {
    key: VerifyingKey,
}

impl DigestPublicKey {
    /// The DER SubjectPublicKeyInfo.
    fn spki_der(&self) -> Vec<u8> {
        let mut der = SPKI_PREFIX.to_vec();
        der.extend_from_slice(self.key.as_bytes());
        der
    }

    /// `-----BEGIN PUBLIC KEY-----` PEM, as `openssl pkey -pubin` reads it.
    pub fn to_pem(&self) -> String {
        let body = base64::engine::general_purpose::STANDARD.encode(self.spki_der());
        format!("-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n")
    }

    /// Reads `to_pem`'s form (what `kmsfs audit public-key` prints).
    pub fn from_pem(pem: &str) -> Result<DigestPublicKey, String> {
        let body: String = pem
            .lines()
            .map(str::trim)
            .skip_while(|line| *line != "-----BEGIN PUBLIC KEY-----")
            .skip(1)
            .take_while(|line| *line != "-----END PUBLIC KEY-----")
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| "it is not a PEM public key".to_string())?;
        let key = der
            .strip_prefix(&SPKI_PREFIX[..])
            .and_then(|key| <[u8; 32]>::try_from(key).ok())
            .ok_or("it is not an Ed25519 public key")?;
        let key = VerifyingKey::from_bytes(&key).map_err(|_| "it is not an Ed25519 public key")?;
        Ok(DigestPublicKey { key })
    }

    /// `digestPublicKeyFingerprint`: hex SHA-256 of the DER public key, as
    /// `openssl pkey -pubin -in pub.pem -outform DER | sha256sum` prints it.
    pub fn fingerprint(&self) -> String {
        hex::encode(Sha256::digest(self.spki_der()))
    }

    /// Whether `signature_hex` is this key's Ed25519 signature of `message`
    /// (strict verification: no malleable or small-order forms).
    pub(super) fn verifies(&self, message: &[u8], signature_hex: &str) -> bool {
        let Ok(bytes) = hex::decode(signature_hex.trim()) else {
            return false;
        };
        let Ok(bytes) = <[u8; 64]>::try_from(bytes.as_slice()) else {
            return false;
        };
        self.key
            .verify_strict(message, &Signature::from_bytes(&bytes))
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> DigestSigner {
        DigestSigner::new(&DigestSigningSeed::generate().expect("random"))
    }

    #[test]
    fn a_signature_verifies_only_for_its_message_and_key() {
        let signer = signer();
        let public = signer.public_key();
        let signature = signer.sign_hex(b"digest");
        assert_eq!(signature.len(), 128);
        assert!(public.verifies(b"digest", &signature));
        assert!(!public.verifies(b"digesT", &signature));
        assert!(!self::signer().public_key().verifies(b"digest", &signature));
        let mut flipped = signature.into_bytes();
        flipped[10] = if flipped[10] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).expect("hex");
        assert!(!public.verifies(b"digest", &flipped));
        assert!(!public.verifies(b"digest", "not hex"));
        assert!(!public.verifies(b"digest", "abcd"));
    }

    #[test]
    fn the_pem_is_an_rfc8410_public_key() {
        // RFC 8410 section 10.1's example key.
        let public = DigestPublicKey {
            key: VerifyingKey::from_bytes(
                &hex::decode("19bf44096984cdfe8541bac167dc3b96c85086aa30b6b6cb0c5c38ad703166e1")
                    .expect("hex")
                    .try_into()
                    .expect("32 bytes"),
            )
            .expect("a point"),
        };
        assert_eq!(
            public.to_pem(),
            "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n"
        );
        assert_eq!(public.fingerprint().len(), 64);
        assert_eq!(DigestPublicKey::from_pem(&public.to_pem()), Ok(public));
    }

    #[test]
    fn from_pem_refuses_what_is_not_an_ed25519_public_key() {
        let pem = signer().public_key().to_pem();
        assert!(DigestPublicKey::from_pem(&pem.replace("MCow", "MCox")).is_err());
        assert!(DigestPublicKey::from_pem("").is_err());
        assert!(DigestPublicKey::from_pem(&pem.replace("PUBLIC", "PRIVATE")).is_err());
    }
}
