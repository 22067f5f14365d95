//! The ciphertext object header and the chunk associated data
//! (docs/FORMAT.md, "Ciphertext object"). Pure encoding and bounded parsing;
//! the chunk arithmetic and all file I/O live in `crate::object`, which this
//! module must not import (nor anything that does I/O).
//!
//! ```text
//! "KFSO" ‖ be16(version = 1) ‖ u8(cipher) ‖ u8(0) ‖ be32(chunk_size) ‖ file_id (16)
//!   ‖ be16(blob_len) ‖ wrapped DEK (blob_len bytes: a KMS ciphertext blob)
//! ```

use std::fmt;

use crate::crypto::{random_bytes, Cipher, CryptoError};
use crate::model::EncryptionContext;

use super::blob::{CiphertextBlob, MAX_BLOB_LEN};
use super::volume_config::VolumeId;
use super::{FormatError, Reader};

pub const MAGIC: &[u8; 4] = b"KFSO";
pub const VERSION: u16 = 1;
/// Everything before the wrapped DEK: magic, version, cipher, reserved,
/// chunk size, file id, blob length.
pub const FIXED_LEN: usize = 4 + 2 + 1 + 1 + 4 + 16 + 2;
/// Where the file id lies in a header: after magic, version, cipher, reserved
/// byte and chunk size.
pub const FILE_ID_OFFSET: u64 = 4 + 2 + 1 + 1 + 4;
pub const MIN_CHUNK_SIZE: u32 = 4096;
pub const MAX_CHUNK_SIZE: u32 = 1 << 20;
/// The chunk size of new volumes unless told otherwise: a 4 KiB write, the
/// commonest, then replaces whole chunks and reads nothing back
/// (docs/PERFORMANCE.md, "Chunk size").
pub const DEFAULT_CHUNK_SIZE: u32 = 4 * 1024;

pub const CHUNK_AAD_MAGIC: &[u8; 4] = b"KFSC";
pub const CHUNK_AAD_LEN: usize = 4 + 16 + 8 + 1 + 1 + 4;

/// Encryption context keys of a file's wrapped DEK.
pub const CONTEXT_VOLUME: &str = "kmsfs:volume";
pub const CONTEXT_FILE: &str = "kmsfs:file";

const WHAT: &str = "object header";

/// A file's random 128-bit id: binds its chunks to it and its DEK to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileId(pub [u8; 16]);

impl FileId {
    pub fn random() -> Result<FileId, CryptoError> {
        let mut id = [0u8; 16];
        random_bytes(&mut id)?;
        Ok(FileId(id))
    }

    /// 32 lowercase hex digits, as in the encryption context.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

/// The encryption context the KMS binds to a file's wrapped DEK:
/// `{"kmsfs:volume": volume id, "kmsfs:file": file id as hex}`.
pub fn dek_context(volume: &VolumeId, file: &FileId) -> EncryptionContext {
    let mut context = EncryptionContext::new();
    context.insert(CONTEXT_VOLUME, volume.to_string());
    context.insert(CONTEXT_FILE, file.hex());
    context
}

/// Refuses a chunk size that is not a power of two in
/// [`MIN_CHUNK_SIZE`]..=[`MAX_CHUNK_SIZE`].
pub fn check_chunk_size(field: &'static str, size: u64) -> Result<u32, FormatError> {
    let in_range = (u64::from(MIN_CHUNK_SIZE)..=u64::from(MAX_CHUNK_SIZE)).contains(&size);
    if in_range && size.is_power_of_two() {
        Ok(size as u32)
    } else {
        Err(FormatError::BadChunkSize { field, size })
    }
}

/// The fixed-size start of a header: enough to know the chunk layout and the
/// header's length without reading the wrapped DEK (stat needs no key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedHeader {
    pub cipher: Cipher,
    pub chunk_size: u32,
    pub file_id: FileId,
    pub blob_len: u16,
}

impl FixedHeader {
    /// Parses the first [`FIXED_LEN`] bytes of `bytes`; the rest is ignored.
    pub fn read(bytes: &[u8]) -> Result<FixedHeader, FormatError> {
        let mut r = Reader::new(bytes, WHAT);
        Self::read_from(&mut r)
    }

    fn read_from(r: &mut Reader<'_>) -> Result<FixedHeader, FormatError> {
        if r.take(4)? != MAGIC {
            return Err(FormatError::BadMagic { what: WHAT });
        }
        let version = r.u16()?;
        if version != VERSION {
            return Err(FormatError::UnsupportedVersion {
                what: WHAT,
                version: version.into(),
            });
        }
        let cipher_id = r.u8()?;
        let cipher = Cipher::from_id(cipher_id).ok_or(FormatError::UnknownCipher(cipher_id))?;
        let reserved = r.u8()?;
        if reserved != 0 {
            return Err(FormatError::ReservedNotZero {
                what: WHAT,
                value: reserved.into(),
            });
        }
        let chunk_size = check_chunk_size("chunk size", r.u32()?.into())?;
        let file_id = FileId(r.array()?);
        let blob_len = r.u16()?;
        Ok(FixedHeader {
            cipher,
            chunk_size,
            file_id,
            blob_len,
        })
    }

    /// Length of the whole header this fixed part starts.
    pub fn header_len(&self) -> usize {
        FIXED_LEN + usize::from(self.blob_len)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectHeader {
    pub cipher: Cipher,
    /// Plaintext bytes per chunk.
    pub chunk_size: u32,
    pub file_id: FileId,
    /// The file's DEK as a KMS ciphertext blob (encryption context: [`dek_context`]).
    pub wrapped_dek: Vec<u8>,
}

impl ObjectHeader {
    pub fn encoded_len(&self) -> usize {
        FIXED_LEN + self.wrapped_dek.len()
    }

    pub fn encode(&self) -> Vec<u8> {
        // The KMS never makes a blob longer than MAX_BLOB_LEN, which fits be16.
        let blob_len = u16::try_from(self.wrapped_dek.len())
            .ok()
            .filter(|&len| usize::from(len) <= MAX_BLOB_LEN)
            .expect("BUG: wrapped DEK longer than a KMS ciphertext blob");
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.push(self.cipher.id());
        out.push(0);
        out.extend_from_slice(&self.chunk_size.to_be_bytes());
        out.extend_from_slice(&self.file_id.0);
        out.extend_from_slice(&blob_len.to_be_bytes());
        out.extend_from_slice(&self.wrapped_dek);
        out
    }

    /// Parses the header at the start of `bytes` (the chunks may follow) and
    /// returns it with its length in bytes.
    pub fn read(bytes: &[u8]) -> Result<(ObjectHeader, usize), FormatError> {
        let mut r = Reader::new(bytes, WHAT);
        let fixed = FixedHeader::read_from(&mut r)?;
        let wrapped_dek = r.take(fixed.blob_len.into())?;
        // Refuse garbage here, with a precise error, rather than at the KMS.
        CiphertextBlob::read(wrapped_dek)?;
        let header = ObjectHeader {
            cipher: fixed.cipher,
            chunk_size: fixed.chunk_size,
            file_id: fixed.file_id,
            wrapped_dek: wrapped_dek.to_vec(),
        };
        Ok((header, fixed.header_len()))
    }

    /// The associated data of chunk `chunk_no`:
    ///
    /// `seal[DEK](chunk, aad = "KFSC" ‖ file_id ‖ be64(chunk_no) ‖ u8(last) ‖ u8(cipher) ‖ be32(chunk_size))`
    ///
    /// The file id stops chunks moving between files, the index stops
    /// reordering, and `last` (1 for the final chunk, else 0) stops cutting
    /// the file at a chunk boundary and appending chunks (docs/FORMAT.md, "Chunks").
    pub fn chunk_aad(&self, chunk_no: u64, last: bool) -> [u8; CHUNK_AAD_LEN] {
        let mut aad = [0u8; CHUNK_AAD_LEN];
        aad[..4].copy_from_slice(CHUNK_AAD_MAGIC);
        aad[4..20].copy_from_slice(&self.file_id.0);
        aad[20..28].copy_from_slice(&chunk_no.to_be_bytes());
        aad[28] = u8::from(last);
        aad[29] = self.cipher.id();
        aad[30..].copy_from_slice(&self.chunk_size.to_be_bytes());
        aad
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::KeyId;

    fn sample_blob() -> Vec<u8> {
        CiphertextBlob {
            cipher: Cipher::Aes256Gcm,
            key_id: KeyId::new_random(),
            material_version: 1,
            nonce: vec![5; 12],
            sealed: vec![6; 48],
        }
        .encode()
    }

    fn sample() -> ObjectHeader {
        ObjectHeader {
            cipher: Cipher::XChaCha20Poly1305,
            chunk_size: 65536,
            file_id: FileId([0xab; 16]),
            wrapped_dek: sample_blob(),
        }
    }

    #[test]
    fn header_round_trips_and_ignores_the_chunks_after_it() {
        let header = sample();
        let mut bytes = header.encode();
        assert_eq!(bytes.len(), header.encoded_len());
        assert_eq!(bytes.len(), FIXED_LEN + 86);
        bytes.extend_from_slice(b"chunk bytes");
        let (back, len) = ObjectHeader::read(&bytes).unwrap();
        assert_eq!(back, header);
        assert_eq!(len, header.encoded_len());
        let fixed = FixedHeader::read(&bytes).unwrap();
        assert_eq!(fixed.header_len(), len);
        assert_eq!(fixed.chunk_size, 65536);
    }

    #[test]
    fn header_bytes_are_as_documented() {
        let bytes = sample().encode();
        assert_eq!(&bytes[..4], b"KFSO");
        assert_eq!(&bytes[4..6], &[0, 1]);
        assert_eq!(bytes[6], 2);
        assert_eq!(bytes[7], 0);
        assert_eq!(&bytes[8..12], &[0, 1, 0, 0]);
        assert_eq!(&bytes[12..28], &[0xab; 16]);
        assert_eq!(&bytes[28..30], &[0, 86]);
        assert_eq!(&bytes[30..34], b"KMB1");
    }

    fn read_err(mutate: impl FnOnce(&mut Vec<u8>)) -> FormatError {
        let mut bytes = sample().encode();
        mutate(&mut bytes);
        ObjectHeader::read(&bytes).unwrap_err()
    }

    #[test]
    fn every_bad_header_is_refused_with_its_own_error() {
        assert_eq!(
            read_err(|b| b[0] = b'X'),
            FormatError::BadMagic { what: WHAT }
        );
        assert_eq!(
            read_err(|b| b[5] = 2),
            FormatError::UnsupportedVersion {
                what: WHAT,
                version: 2
            }
        );
        assert_eq!(read_err(|b| b[6] = 9), FormatError::UnknownCipher(9));
        assert_eq!(
            read_err(|b| b[7] = 1),
            FormatError::ReservedNotZero {
                what: WHAT,
                value: 1
            }
        );
        for size in [0u32, 1000, 2048, 4097, 3 << 12, 2 << 20] {
            assert_eq!(
                read_err(|b| b[8..12].copy_from_slice(&size.to_be_bytes())),
                FormatError::BadChunkSize {
                    field: "chunk size",
                    size: size.into()
                }
            );
        }
        assert_eq!(
            read_err(|b| b.truncate(FIXED_LEN + 10)),
            FormatError::Truncated { what: WHAT }
        );
        assert_eq!(
            read_err(|b| b.truncate(FIXED_LEN - 1)),
            FormatError::Truncated { what: WHAT }
        );
        assert_eq!(
            read_err(|b| b[FIXED_LEN] = b'X'),
            FormatError::BadMagic {
                what: "ciphertext blob"
            }
        );
        // A blob length that cuts the blob short of its tag.
        assert_eq!(
            read_err(|b| b[28..30].copy_from_slice(&40u16.to_be_bytes())),
            FormatError::Truncated {
                what: "ciphertext blob"
            }
        );
    }

    #[test]
    fn chunk_sizes_are_powers_of_two_from_4k_to_1m() {
        assert_eq!(check_chunk_size("x", 4096), Ok(4096));
        assert_eq!(check_chunk_size("x", 1 << 20), Ok(1 << 20));
        assert_eq!(
            check_chunk_size("x", u64::from(DEFAULT_CHUNK_SIZE)),
            Ok(4096)
        );
        for bad in [0, 2048, 4095, 4097, 1 << 21, u64::MAX] {
            assert!(check_chunk_size("x", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn chunk_aad_is_as_documented_and_separates_every_field() {
        let header = sample();
        let aad = header.chunk_aad(0x0102, true);
        let mut expected = b"KFSC".to_vec();
        expected.extend_from_slice(&[0xab; 16]);
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 1, 2]);
        expected.extend_from_slice(&[1, 2, 0, 1, 0, 0]);
        assert_eq!(aad.to_vec(), expected);
        assert_ne!(aad, header.chunk_aad(0x0102, false));
        assert_ne!(aad, header.chunk_aad(0x0103, true));
        let other_file = ObjectHeader {
            file_id: FileId([0xac; 16]),
            ..sample()
        };
        assert_ne!(aad, other_file.chunk_aad(0x0102, true));
    }

    #[test]
    fn file_ids_are_random_and_print_as_hex() {
        let id = FileId([0x0f; 16]);
        assert_eq!(id.hex(), "0f".repeat(16));
        assert_eq!(id.to_string().len(), 32);
        assert_ne!(FileId::random().unwrap(), FileId::random().unwrap());
    }

    #[test]
    fn dek_context_binds_volume_and_file() {
        let volume: VolumeId = "6f0d2c1e-1c1a-4c52-9b0e-0d7f8a3b9e11".parse().unwrap();
        let context = dek_context(&volume, &FileId([1; 16]));
        assert_eq!(context.len(), 2);
        assert_eq!(
            context.get("kmsfs:volume"),
            Some("6f0d2c1e-1c1a-4c52-9b0e-0d7f8a3b9e11")
        );
        assert_eq!(context.get("kmsfs:file"), Some("01".repeat(16).as_str()));
    }
}
