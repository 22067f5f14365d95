//! All offset arithmetic between an object's plaintext and its ciphertext
//! (docs/FORMAT.md, "Sizes"), in one place. Pure: imports only the cipher and
//! header types. Values are bounded by [`Layout::max_plain_len`], which keeps
//! every ciphertext offset below `i64::MAX`, so nothing here overflows.
//!
//! ```text
//! object   = header ‖ chunk 0 ‖ chunk 1 ‖ ... ‖ chunk n-1
//! chunk i  = nonce ‖ ciphertext (chunk_size bytes, fewer only for i = n-1) ‖ tag
//! ```

use crate::crypto::{Cipher, TAG_LEN};
use crate::format::object::ObjectHeader;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    header_len: u64,
    /// Plaintext bytes of every chunk but the last.
    chunk_size: u64,
    /// Bytes a chunk adds to its plaintext: nonce and tag.
    overhead: u64,
}

impl Layout {
    pub fn new(header_len: u64, cipher: Cipher, chunk_size: u32) -> Layout {
        assert!(chunk_size > 0, "BUG: a chunk size of zero");
        Layout {
            header_len,
            chunk_size: chunk_size.into(),
            overhead: (cipher.nonce_len() + TAG_LEN) as u64,
        }
    }

    pub fn for_header(header: &ObjectHeader) -> Layout {
        Layout::new(
            header.encoded_len() as u64,
            header.cipher,
            header.chunk_size,
        )
    }

    pub fn header_len(&self) -> u64 {
        self.header_len
    }

    pub fn chunk_size(&self) -> u64 {
        self.chunk_size
    }

    /// On-disk length of a chunk that holds `chunk_len` plaintext bytes.
    pub fn frame_len(&self, chunk_len: u64) -> u64 {
        chunk_len + self.overhead
    }

    fn full_frame_len(&self) -> u64 {
        self.frame_len(self.chunk_size)
    }

    /// The chunk that holds plaintext byte `plain_off`.
    pub fn chunk_no(&self, plain_off: u64) -> u64 {
        plain_off / self.chunk_size
    }

    /// Plaintext offset of the first byte of chunk `chunk_no`.
    pub fn plain_off(&self, chunk_no: u64) -> u64 {
        chunk_no * self.chunk_size
    }

    /// Ciphertext offset of chunk `chunk_no` (its nonce) in the object.
    pub fn cipher_off(&self, chunk_no: u64) -> u64 {
        self.header_len + chunk_no * self.full_frame_len()
    }

    /// The chunk whose frame holds ciphertext byte `cipher_off` (at or past the header).
    pub fn cipher_chunk_no(&self, cipher_off: u64) -> u64 {
        cipher_off.saturating_sub(self.header_len) / self.full_frame_len()
    }

    /// Number of chunks of a plaintext of `plain_len` bytes.
    pub fn chunk_count(&self, plain_len: u64) -> u64 {
        plain_len.div_ceil(self.chunk_size)
    }

    /// Plaintext bytes held by chunk `chunk_no` in a plaintext of `plain_len`
    /// bytes: `chunk_size`, less for the last chunk, 0 past the end.
    pub fn chunk_len(&self, chunk_no: u64, plain_len: u64) -> u64 {
        plain_len
            .saturating_sub(self.plain_off(chunk_no))
            .min(self.chunk_size)
    }

    /// Object length of a plaintext of `plain_len` bytes.
    pub fn cipher_len(&self, plain_len: u64) -> u64 {
        self.header_len + plain_len + self.chunk_count(plain_len) * self.overhead
    }

    /// Plaintext length of an object of `cipher_len` bytes, or `None` if no
    /// plaintext gives that length (shorter than the header, or a last chunk
    /// with no room for a plaintext byte).
    pub fn plain_len(&self, cipher_len: u64) -> Option<u64> {
        let body = cipher_len.checked_sub(self.header_len)?;
        let full_chunks = body / self.full_frame_len();
        let partial = body % self.full_frame_len();
        let last_chunk_len = match partial {
            0 => 0,
            p if p <= self.overhead => return None,
            p => p - self.overhead,
        };
        Some(full_chunks * self.chunk_size + last_chunk_len)
    }

    /// The longest plaintext whose object length stays below `i64::MAX`
    /// (the largest file Linux has), in whole chunks.
    pub fn max_plain_len(&self) -> u64 {
        let max_object = i64::MAX as u64;
        (max_object - self.header_len) / self.full_frame_len() * self.chunk_size
    }
}

/// Plaintext size of an object from its size on disk, for stat without a key;
/// `None` if no plaintext has that size.
pub fn plain_len_from_cipher_len(
    cipher_len: u64,
    header_len: u64,
    cipher: Cipher,
    chunk_size: u32,
) -> Option<u64> {
    Layout::new(header_len, cipher, chunk_size).plain_len(cipher_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHUNK: u64 = 4096;
    const HEADER: u64 = 116;

    fn layouts() -> [(Layout, u64); 2] {
        [
            (Layout::new(HEADER, Cipher::Aes256Gcm, 4096), 28),
            (Layout::new(HEADER, Cipher::XChaCha20Poly1305, 4096), 40),
        ]
    }

    #[test]
    fn sizes_at_every_boundary() {
        for (layout, overhead) in layouts() {
            let cases = [
                (0, HEADER, 0),
                (1, HEADER + 1 + overhead, 1),
                (CHUNK - 1, HEADER + CHUNK - 1 + overhead, 1),
                (CHUNK, HEADER + CHUNK + overhead, 1),
                (CHUNK + 1, HEADER + CHUNK + 1 + 2 * overhead, 2),
                (3 * CHUNK + 7, HEADER + 3 * CHUNK + 7 + 4 * overhead, 4),
            ];
            for (plain_len, cipher_len, chunks) in cases {
                assert_eq!(layout.cipher_len(plain_len), cipher_len, "{plain_len}");
                assert_eq!(layout.plain_len(cipher_len), Some(plain_len));
                assert_eq!(layout.chunk_count(plain_len), chunks);
            }
        }
    }

    /// The table "Worked sizes" of docs/FORMAT.md: default chunk size, a
    /// 116-byte header (a DEK wrapped with AES-256-GCM).
    #[test]
    fn worked_sizes_of_the_format_document() {
        let aes = Layout::new(116, Cipher::Aes256Gcm, 32768);
        let xchacha = Layout::new(116, Cipher::XChaCha20Poly1305, 32768);
        let table: [(u64, u64, u64); 8] = [
            (0, 116, 116),
            (1, 145, 157),
            (32767, 32911, 32923),
            (32768, 32912, 32924),
            (32769, 32941, 32965),
            (98311, 98539, 98587),
            (1048579, 1049619, 1050015),
            (10485760, 10494836, 10498676),
        ];
        for (plain_len, aes_len, xchacha_len) in table {
            assert_eq!(aes.cipher_len(plain_len), aes_len, "{plain_len}");
            assert_eq!(xchacha.cipher_len(plain_len), xchacha_len, "{plain_len}");
        }
    }

    #[test]
    fn lengths_no_plaintext_gives_are_refused() {
        for (layout, overhead) in layouts() {
            assert_eq!(layout.plain_len(0), None);
            assert_eq!(layout.plain_len(HEADER - 1), None);
            // A last chunk of 1..=overhead bytes has no room for plaintext.
            for extra in 1..=overhead {
                assert_eq!(layout.plain_len(HEADER + extra), None);
                assert_eq!(layout.plain_len(HEADER + CHUNK + overhead + extra), None);
            }
            assert_eq!(layout.plain_len(HEADER + overhead + 1), Some(1));
        }
    }

    #[test]
    fn chunk_offsets_and_lengths() {
        let (layout, overhead) = layouts()[0];
        assert_eq!(layout.chunk_no(0), 0);
        assert_eq!(layout.chunk_no(CHUNK - 1), 0);
        assert_eq!(layout.chunk_no(CHUNK), 1);
        assert_eq!(layout.chunk_no(3 * CHUNK + 7), 3);
        assert_eq!(layout.plain_off(3), 3 * CHUNK);
        assert_eq!(layout.cipher_off(0), HEADER);
        assert_eq!(layout.cipher_off(2), HEADER + 2 * (CHUNK + overhead));
        assert_eq!(layout.cipher_chunk_no(layout.cipher_off(2)), 2);
        assert_eq!(layout.cipher_chunk_no(layout.cipher_off(3) - 1), 2);
        assert_eq!(layout.cipher_chunk_no(3), 0);
        assert_eq!(layout.frame_len(CHUNK), CHUNK + overhead);
        let len = 3 * CHUNK + 7;
        assert_eq!(layout.chunk_len(0, len), CHUNK);
        assert_eq!(layout.chunk_len(3, len), 7);
        assert_eq!(layout.chunk_len(4, len), 0);
        assert_eq!(layout.chunk_len(0, 0), 0);
        assert_eq!(layout.chunk_len(0, CHUNK), CHUNK);
    }

    #[test]
    fn the_largest_plaintext_fits_a_linux_file() {
        for (layout, _) in layouts() {
            let max = layout.max_plain_len();
            assert_eq!(max % CHUNK, 0);
            assert!(layout.cipher_len(max) <= i64::MAX as u64);
            assert!(layout.cipher_len(max + CHUNK) > i64::MAX as u64);
            assert_eq!(layout.plain_len(layout.cipher_len(max)), Some(max));
        }
    }

    #[test]
    fn the_keyless_stat_helper_agrees() {
        assert_eq!(
            plain_len_from_cipher_len(HEADER + 1 + 40, HEADER, Cipher::XChaCha20Poly1305, 4096),
            Some(1)
        );
        assert_eq!(
            plain_len_from_cipher_len(HEADER + 5, HEADER, Cipher::Aes256Gcm, 4096),
            None
        );
    }
}
