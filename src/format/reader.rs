//! A bounded cursor over untrusted bytes: every read checks the length, and
//! `finish` refuses trailing bytes.

use super::FormatError;

pub struct Reader<'a> {
    bytes: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// `what` names the structure in errors ("ciphertext blob", "object header").
    pub fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Reader { bytes, what }
    }

    pub fn take(&mut self, len: usize) -> Result<&'a [u8], FormatError> {
        if self.bytes.len() < len {
            return Err(FormatError::Truncated { what: self.what });
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(head)
    }

    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], FormatError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(self.array::<1>()?[0])
    }

    pub fn u16(&mut self) -> Result<u16, FormatError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub fn u32(&mut self) -> Result<u32, FormatError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub fn u64(&mut self) -> Result<u64, FormatError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Everything that is left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.bytes)
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len()
    }

    /// Ends parsing: refuses trailing bytes.
    pub fn finish(self) -> Result<(), FormatError> {
        match self.bytes.len() {
            0 => Ok(()),
            count => Err(FormatError::TrailingBytes { count }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounded_and_trailing_bytes_refused() {
        let mut r = Reader::new(&[0, 1, 2, 3, 4], "test");
        assert_eq!(r.u16().unwrap(), 1);
        assert_eq!(r.take(2).unwrap(), &[2, 3]);
        assert!(matches!(r.u16(), Err(FormatError::Truncated { .. })));
        assert_eq!(r.remaining(), 1);
        assert_eq!(r.finish(), Err(FormatError::TrailingBytes { count: 1 }));
    }
}
