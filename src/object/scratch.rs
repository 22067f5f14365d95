//! The buffer reads and writes open and seal chunks in. Chunks are opened in
//! place, so it holds plaintext: it is zeroed when dropped, and when it must
//! grow the old allocation is zeroed before it is freed (a plain `Vec` would
//! copy the bytes and free the old copy as it was).

use zeroize::{Zeroize, Zeroizing};

#[derive(Default)]
pub(super) struct Scratch(Zeroizing<Vec<u8>>);

impl Scratch {
    /// The first `len` bytes, which keep what the buffer held (zeros past it).
    pub(super) fn resized(&mut self, len: usize) -> &mut [u8] {
        if len > self.0.capacity() {
            let mut grown = Vec::with_capacity(len);
            grown.extend_from_slice(&self.0);
            // The old allocation is zeroed here, before it is freed.
            self.0.zeroize();
            *self.0 = grown;
        }
        self.0.resize(len, 0);
        &mut self.0[..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growing_keeps_the_content_and_shrinking_keeps_the_prefix() {
        let mut scratch = Scratch::default();
        scratch.resized(3).copy_from_slice(b"abc");
        let grown = scratch.resized(4096);
        assert_eq!(&grown[..3], b"abc");
        assert!(grown[3..].iter().all(|&b| b == 0));
        assert_eq!(scratch.resized(2), b"ab");
        assert_eq!(scratch.resized(3), b"ab\0");
    }
}
