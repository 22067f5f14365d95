//! Content keys: a file's data key with its AEAD key schedule prepared once,
//! sealing and opening chunk frames in place (docs/FORMAT.md, "Chunks").
//! A frame is `nonce ‖ ciphertext ‖ tag`, exactly as it lies on disk.
//! Must not import anything outside `crypto`.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce as GcmNonce, Tag};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use super::{random_bytes, Cipher, CryptoError, DataKey, TAG_LEN};

/// The longest nonce of any content cipher (XChaCha20's 192 bits).
const MAX_NONCE_LEN: usize = 24;

/// A file's data key, ready to seal and open that file's chunks. The cipher
/// objects zeroize their key schedules on drop (the `zeroize` features enabled
/// in Cargo.toml); no Clone, no Debug.
pub struct ContentKey(Prepared);

enum Prepared {
    // Boxed: its key schedule (about 1 KiB) would make every key that large.
    Aes256Gcm(Box<Aes256Gcm>),
    XChaCha20Poly1305(XChaCha20Poly1305),
}

impl ContentKey {
    /// Runs the key schedule of `cipher` for `dek` once.
    pub fn new(dek: &DataKey, cipher: Cipher) -> ContentKey {
        let key = dek.expose().into();
        ContentKey(match cipher {
            Cipher::Aes256Gcm => Prepared::Aes256Gcm(Box::new(Aes256Gcm::new(key))),
            Cipher::XChaCha20Poly1305 => Prepared::XChaCha20Poly1305(XChaCha20Poly1305::new(key)),
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
        let tag = match &self.0 {
            Prepared::Aes256Gcm(aead) => {
                aead.encrypt_in_place_detached(GcmNonce::from_slice(nonce), aad, body)
            }
            Prepared::XChaCha20Poly1305(aead) => {
                aead.encrypt_in_place_detached(XNonce::from_slice(nonce), aad, body)
            }
        }
        // Only a body beyond the AEAD's limit (64 GiB) fails; chunks are at most 1 MiB.
        .map_err(|_| CryptoError::Authentication)?;
        tag_slot.copy_from_slice(&tag);
        Ok(())
    }

    /// `open[DEK](frame, aad)` in place: on success the plaintext, which is the
    /// middle of `frame`; on failure `frame` holds ciphertext only and nothing
    /// unauthenticated is revealed.
    pub fn open_frame<'f>(
        &self,
        aad: &[u8],
        frame: &'f mut [u8],
    ) -> Result<&'f mut [u8], CryptoError> {
        let nonce_len = self.cipher().nonce_len();
        if frame.len() < nonce_len + TAG_LEN {
            return Err(CryptoError::Authentication);
        }
        let (nonce_bytes, rest) = frame.split_at_mut(nonce_len);
        let (body, tag_bytes) = rest.split_at_mut(rest.len() - TAG_LEN);
        // Copied so that the borrow of `frame` ends in `body`.
        let mut nonce = [0u8; MAX_NONCE_LEN];
        nonce[..nonce_len].copy_from_slice(nonce_bytes);
        let tag = Tag::clone_from_slice(tag_bytes);
        match &self.0 {
            Prepared::Aes256Gcm(aead) => aead.decrypt_in_place_detached(
                GcmNonce::from_slice(&nonce[..nonce_len]),
                aad,
                body,
                &tag,
            ),
            Prepared::XChaCha20Poly1305(aead) => aead.decrypt_in_place_detached(
                XNonce::from_slice(&nonce[..nonce_len]),
                aad,
                body,
                &tag,
            ),
        }
        .map_err(|_| CryptoError::Authentication)?;
        Ok(body)
    }
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
