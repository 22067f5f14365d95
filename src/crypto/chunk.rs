//! Content keys: a file's data key with its AEAD key schedule prepared once,
//! sealing and opening chunk frames in place (docs/FORMAT.md, "Chunks").
//! A frame is `nonce ‖ ciphertext ‖ tag`, exactly as it lies on disk.
//! Must not import anything outside `crypto`.
//!
//! Both ciphers run on AWS-LC (aws-lc-rs), whose assembly keeps up with
//! openssl. XChaCha20-Poly1305 is HChaCha20 (RustCrypto's `chacha20`) giving a
//! subkey per nonce, then AWS-LC's ChaCha20-Poly1305 under that subkey
//! (draft-irtf-cfrg-xchacha, the construction RustCrypto's XChaCha20Poly1305
//! implements: the frames are the same bytes). Key schedules and subkeys live
//! in contexts AWS-LC allocates with `OPENSSL_malloc` and releases with
//! `EVP_AEAD_CTX_free`, whose `OPENSSL_free` wipes the whole allocation
//! (`OPENSSL_cleanse`) before freeing it (docs/SECURITY.md).

use aws_lc_rs::aead::{
    Aad, LessSafeKey, Nonce as LcNonce, UnboundKey, AES_256_GCM, CHACHA20_POLY1305,
};
use chacha20::cipher::consts::U10;
use zeroize::{Zeroize, Zeroizing};

use super::{random_bytes, Cipher, CryptoError, DataKey, TAG_LEN};

/// XChaCha20's nonce: the first 16 bytes feed HChaCha20, the last 8 the
/// ChaCha20-Poly1305 nonce under the subkey.
const HCHACHA_INPUT_LEN: usize = 16;

/// A file's data key, ready to seal and open that file's chunks. The AES key
/// schedule is wiped on drop (AWS-LC's `OPENSSL_free`), the XChaCha key is a
/// zeroizing [`DataKey`]; no Clone, no Debug.
pub struct ContentKey(Prepared);

enum Prepared {
    // Its key schedule is on AWS-LC's heap, never in this value.
    Aes256Gcm(LessSafeKey),
    // ChaCha has no key schedule: each frame derives its subkey from the nonce.
    XChaCha20Poly1305(DataKey),
}

impl ContentKey {
    /// Runs the key schedule of `cipher` for `dek` once.
    pub fn new(dek: &DataKey, cipher: Cipher) -> ContentKey {
        ContentKey(match cipher {
            Cipher::Aes256Gcm => Prepared::Aes256Gcm(LessSafeKey::new(
                UnboundKey::new(&AES_256_GCM, dek.expose())
                    .expect("BUG: a DataKey is 32 bytes, AES-256's key length"),
            )),
            Cipher::XChaCha20Poly1305 => Prepared::XChaCha20Poly1305(
                DataKey::from_slice(dek.expose()).expect("BUG: a DataKey's bytes make a DataKey"),
            ),
        })
    }

    pub fn cipher(&self) -> Cipher {
        match self.0 {
            Prepared::Aes256Gcm(_) => Cipher::Aes256Gcm,
            Prepared::XChaCha20Poly1305(_) => Cipher::XChaCha20Poly1305,
        }
    }

    /// `seal[DEK](body, aad)` in place, with a fresh nonce from the OS.
    /// `frame` is `nonce slot ‖ plaintext ‖ tag slot`; afterwards it is the
    /// sealed frame `nonce ‖ ciphertext ‖ tag`.
    pub fn seal_frame(&self, aad: &[u8], frame: &mut [u8]) -> Result<(), CryptoError> {
        let nonce_len = self.cipher().nonce_len();
        assert!(
            frame.len() >= nonce_len + TAG_LEN,
            "BUG: a chunk frame of {} bytes has no room for nonce and tag",
            frame.len()
        );
        let (nonce, rest) = frame.split_at_mut(nonce_len);
        let (body, tag_slot) = rest.split_at_mut(rest.len() - TAG_LEN);
        random_bytes(nonce)?;
        let (aead, nonce) = self.aead_for(nonce)?;
        // Only a body beyond the AEAD's limit (64 GiB) fails; chunks are at most 1 MiB.
        let tag = aead
            .seal_in_place_separate_tag(nonce, Aad::from(aad), body)
            .map_err(|_| CryptoError::Authentication)?;
        tag_slot.copy_from_slice(tag.as_ref());
        Ok(())
    }

    /// `open[DEK](frame, aad)` in place: on success the plaintext, which is the
    /// middle of `frame`; on failure `frame` holds no plaintext (the ciphertext,
    /// or zeroes where AWS-LC wiped the body): nothing unauthenticated is revealed.
    pub fn open_frame<'f>(
        &self,
        aad: &[u8],
        frame: &'f mut [u8],
    ) -> Result<&'f mut [u8], CryptoError> {
        let nonce_len = self.cipher().nonce_len();
        if frame.len() < nonce_len + TAG_LEN {
            return Err(CryptoError::Authentication);
        }
        let (nonce, rest) = frame.split_at_mut(nonce_len);
        let (aead, nonce) = self.aead_for(nonce)?;
        // AWS-LC zeroes the body when the tag does not verify.
        aead.open_in_place(nonce, Aad::from(aad), rest)
            .map_err(|_| CryptoError::Authentication)
    }

    /// `open[DEK](frame, aad)` into `out`, which must be as long as the
    /// frame's body: the frame (ciphertext) is left as it is, so a read needs
    /// no copy of the plaintext out of it. On failure `out` is all zeros.
    pub fn open_frame_into(
        &self,
        aad: &[u8],
        frame: &[u8],
        out: &mut [u8],
    ) -> Result<(), CryptoError> {
        let nonce_len = self.cipher().nonce_len();
        if frame.len() != nonce_len + out.len() + TAG_LEN {
            return Err(CryptoError::Authentication);
        }
        let (nonce, rest) = frame.split_at(nonce_len);
        let (body, tag) = rest.split_at(out.len());
        let (aead, nonce) = self.aead_for(nonce)?;
        aead.open_separate_gather(nonce, Aad::from(aad), body, tag, out)
            .map_err(|_| {
                out.fill(0);
                CryptoError::Authentication
            })
    }

    /// The AWS-LC key and 96-bit nonce that seal or open the frame whose nonce
    /// is `frame_nonce`: the prepared AES key, or XChaCha's subkey for it.
    fn aead_for(&self, frame_nonce: &[u8]) -> Result<(AeadKey<'_>, LcNonce), CryptoError> {
        match &self.0 {
            Prepared::Aes256Gcm(aead) => Ok((AeadKey::Prepared(aead), gcm_nonce(frame_nonce)?)),
            Prepared::XChaCha20Poly1305(dek) => {
                let (input, tail) = frame_nonce.split_at(HCHACHA_INPUT_LEN);
                let mut derived = chacha20::hchacha::<U10>(dek.expose().into(), input.into());
                let subkey = Zeroizing::new(<[u8; 32]>::from(derived));
                derived.as_mut_slice().zeroize();
                let aead = LessSafeKey::new(
                    UnboundKey::new(&CHACHA20_POLY1305, subkey.as_slice())
                        .expect("BUG: HChaCha20 gives a 32-byte key"),
                );
                let mut nonce = [0u8; 12];
                nonce[12 - tail.len()..].copy_from_slice(tail);
                Ok((AeadKey::Derived(aead), gcm_nonce(&nonce)?))
            }
        }
    }
}

/// The AWS-LC key of one frame: borrowed from the [`ContentKey`], or derived
/// for this frame alone (wiped when dropped).
enum AeadKey<'k> {
    Prepared(&'k LessSafeKey),
    Derived(LessSafeKey),
}

impl std::ops::Deref for AeadKey<'_> {
    type Target = LessSafeKey;

    fn deref(&self) -> &LessSafeKey {
        match self {
            AeadKey::Prepared(key) => key,
            AeadKey::Derived(key) => key,
        }
    }
}

/// AWS-LC's view of a 96-bit nonce.
fn gcm_nonce(bytes: &[u8]) -> Result<LcNonce, CryptoError> {
    LcNonce::try_assume_unique_for_key(bytes).map_err(|_| CryptoError::InvalidNonceLength)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{open, Sealed};

    fn frame_with(key: &ContentKey, plaintext: &[u8]) -> Vec<u8> {
        let nonce_len = key.cipher().nonce_len();
        let mut frame = vec![0u8; nonce_len + plaintext.len() + TAG_LEN];
        frame[nonce_len..nonce_len + plaintext.len()].copy_from_slice(plaintext);
        frame
    }

    #[test]
    fn sealed_frames_open_and_match_the_one_shot_aead() {
        for cipher in Cipher::ALL {
            let dek = DataKey::generate().unwrap();
            let key = ContentKey::new(&dek, cipher);
            assert_eq!(key.cipher(), cipher);
            let mut frame = frame_with(&key, b"chunk body");
            key.seal_frame(b"aad", &mut frame).unwrap();
            // The frame is the standard AEAD output: the one-shot `open` agrees.
            let nonce_len = cipher.nonce_len();
            let sealed = Sealed {
                nonce: frame[..nonce_len].to_vec(),
                ciphertext: frame[nonce_len..].to_vec(),
            };
            let one_shot = open(&dek, cipher, &sealed.nonce, b"aad", &sealed.ciphertext).unwrap();
            assert_eq!(one_shot.expose(), b"chunk body");
            assert_eq!(key.open_frame(b"aad", &mut frame).unwrap(), b"chunk body");
        }
    }

    #[test]
    fn tampered_frames_are_refused_without_revealing_plaintext() {
        for cipher in Cipher::ALL {
            let key = ContentKey::new(&DataKey::generate().unwrap(), cipher);
            let other = ContentKey::new(&DataKey::generate().unwrap(), cipher);
            let mut frame = frame_with(&key, b"secret");
            key.seal_frame(b"aad", &mut frame).unwrap();
            for i in 0..frame.len() {
                let mut flipped = frame.clone();
                flipped[i] ^= 0x80;
                assert!(key.open_frame(b"aad", &mut flipped).is_err(), "byte {i}");
                assert!(!flipped.windows(6).any(|w| w == b"secret"));
            }
            assert!(key.open_frame(b"aaD", &mut frame.clone()).is_err());
            assert!(other.open_frame(b"aad", &mut frame.clone()).is_err());
            assert!(key.open_frame(b"aad", &mut frame[..10]).is_err());
        }
    }

    #[test]
    fn frames_open_into_another_buffer_and_a_tampered_one_leaves_zeros() {
        for cipher in Cipher::ALL {
            let key = ContentKey::new(&DataKey::generate().unwrap(), cipher);
            let mut frame = frame_with(&key, b"chunk body");
            key.seal_frame(b"aad", &mut frame).unwrap();
            let mut out = [0xAAu8; 10];
            key.open_frame_into(b"aad", &frame, &mut out).unwrap();
            assert_eq!(&out, b"chunk body");
            let mut flipped = frame.clone();
            let last = flipped.len() - 1;
            flipped[last] ^= 1;
            let mut out = [0xAAu8; 10];
            assert!(key.open_frame_into(b"aad", &flipped, &mut out).is_err());
            assert_eq!(out, [0u8; 10]);
            assert!(key.open_frame_into(b"aaD", &frame, &mut out).is_err());
            assert!(key.open_frame_into(b"aad", &frame, &mut [0u8; 9]).is_err());
        }
    }

    #[test]
    fn every_seal_takes_a_fresh_nonce() {
        let key = ContentKey::new(&DataKey::generate().unwrap(), Cipher::Aes256Gcm);
        let mut a = frame_with(&key, b"same");
        let mut b = a.clone();
        key.seal_frame(b"", &mut a).unwrap();
        key.seal_frame(b"", &mut b).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn an_empty_body_still_authenticates() {
        let key = ContentKey::new(&DataKey::generate().unwrap(), Cipher::XChaCha20Poly1305);
        let mut frame = frame_with(&key, b"");
        key.seal_frame(b"x", &mut frame).unwrap();
        assert!(key.open_frame(b"x", &mut frame.clone()).unwrap().is_empty());
        assert!(key.open_frame(b"y", &mut frame).is_err());
    }
}
