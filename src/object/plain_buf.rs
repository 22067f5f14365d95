//! Buffers of file plaintext: the space chunks are opened and sealed in, and
//! read replies, up to a mebibyte each, on every read and write. Wiped when
//! dropped, and when they move to grow, spare capacity included
//! (`sys::wipe_allocation`, much faster than zeroize for this size).

use std::ops::{Deref, DerefMut};

use crate::sys::wipe_allocation;

/// A byte vector wiped when dropped. No Clone; Debug shows the length only.
#[derive(Default)]
pub struct PlainBuf(Vec<u8>);

impl PlainBuf {
    /// `len` zero bytes.
    pub fn zeroed(len: usize) -> PlainBuf {
        PlainBuf(vec![0u8; len])
    }

    /// The first `len` bytes, which keep what the buffer held (zeros past
    /// it). When the buffer must move to grow, the old allocation is wiped.
    pub fn resized(&mut self, len: usize) -> &mut [u8] {
        if len > self.0.capacity() {
            let mut grown = Vec::with_capacity(len);
            grown.extend_from_slice(&self.0);
            wipe_allocation(&mut std::mem::replace(&mut self.0, grown));
        }
        self.0.resize(len, 0);
        &mut self.0
    }

    /// Drops the bytes from `len` on (they stay in the capacity, which is wiped).
    pub fn truncate(&mut self, len: usize) {
        self.0.truncate(len);
    }
}

impl Drop for PlainBuf {
    fn drop(&mut self) {
        wipe_allocation(&mut self.0);
    }
}

impl std::fmt::Debug for PlainBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{} plaintext bytes>", self.0.len())
    }
}

impl Deref for PlainBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl DerefMut for PlainBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growing_keeps_the_content_and_shrinking_keeps_the_prefix() {
        let mut buf = PlainBuf::default();
        buf.resized(3).copy_from_slice(b"abc");
        let grown = buf.resized(4096);
        assert_eq!(&grown[..3], b"abc");
        assert!(grown[3..].iter().all(|&b| b == 0));
        assert_eq!(buf.resized(2), b"ab");
        assert_eq!(buf.resized(3), b"ab\0");
        buf.truncate(1);
        assert_eq!(&buf[..], b"a");
    }
}
