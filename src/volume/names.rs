//! Encrypted names in the backing tree (docs/FORMAT.md, "Names"): each path
//! component is padded, sealed with the volume's name key (AES-SIV) with its
//! parent directory's id as associated data, and base64url-encoded; a name too
//! long for the backing filesystem becomes a hashed entry plus a sidecar file
//! holding the full form. Also symlink targets, the per-directory id file, and
//! which backing entries are kmsfs's own.
//! Must not import FUSE, the KMS or the object layer.

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::crypto::{random_bytes, CryptoError, NameKey};
use crate::sys;

/// The file in every backing directory that holds its [`DirId`].
pub const DIR_ID_FILE: &str = "kmsfs.dirid";
/// The extended attribute of a backing directory that holds a copy of its id.
pub const DIR_ID_XATTR: &str = "user.kmsfs.dirid";
/// The longest plaintext name, and the longest backing entry name (ext4's limit).
pub const MAX_NAME_LEN: usize = 255;
/// The longest plaintext symlink target whose encrypted form still fits a
/// backing symlink (4095 bytes): see docs/FORMAT.md, "Symlink targets".
pub const MAX_LINK_TARGET_LEN: usize = 3023;

/// Every kmsfs file in the backing tree starts with this; no encrypted name
/// can, since base64url has no '.'.
const INTERNAL_PREFIX: &str = "kmsfs.";
const LONG_PREFIX: &str = "kmsfs.long.";
const SIDECAR_SUFFIX: &str = ".name";
/// base64url of a SHA-256 digest, without padding.
const LONG_HASH_LEN: usize = 43;
/// Names and targets are padded to a multiple of this, hiding exact lengths.
const PAD_BLOCK: usize = 16;
const SYMLINK_CONTEXT: &[u8] = b"kmsfs:symlink";
const LINK_NONCE_LEN: usize = 16;
/// The longest backing symlink target (PATH_MAX less the NUL).
const MAX_BACKING_TARGET_LEN: usize = 4095;

/// A directory's random id: the associated data of the names in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DirId(pub [u8; 16]);

impl DirId {
    pub fn random() -> Result<DirId, CryptoError> {
        let mut id = [0u8; 16];
        random_bytes(&mut id)?;
        Ok(DirId(id))
    }

    /// The id from the content of a [`DIR_ID_FILE`]: exactly 16 bytes.
    pub fn from_file_bytes(bytes: &[u8]) -> Result<DirId, NameError> {
        <[u8; 16]>::try_from(bytes)
            .map(DirId)
            .map_err(|_| NameError::BadDirId { len: bytes.len() })
    }

    /// Reads the id of the backing directory `dir`: its copy in the
    /// directory's extended attribute [`DIR_ID_XATTR`] when there is one (a
    /// cold walk then reads no data block per directory: ext4 keeps so small
    /// an attribute inside the inode), else [`DIR_ID_FILE`].
    pub fn read_in(dir: &Path) -> Result<DirId, NameError> {
        DirId::read_attribute(dir).map_or_else(|| DirId::read_file(dir), Ok)
    }

    /// Reads the id as [`DirId::read_in`] finds it, and refuses a directory
    /// whose [`DIR_ID_FILE`] is missing or differs from the copy in its
    /// attribute (what `kmsfs fsck` checks).
    pub fn read_checked(dir: &Path) -> Result<DirId, NameError> {
        let id = DirId::read_file(dir)?;
        match DirId::read_attribute(dir) {
            Some(copy) if copy != id => Err(NameError::DirIdCopyDiffers),
            _ => Ok(id),
        }
    }

    fn read_file(dir: &Path) -> Result<DirId, NameError> {
        let bytes = std::fs::read(dir.join(DIR_ID_FILE)).map_err(NameError::DirIdFile)?;
        DirId::from_file_bytes(&bytes)
    }

    /// The copy in the attribute, if there is one of 16 bytes.
    fn read_attribute(dir: &Path) -> Option<DirId> {
        let mut id = [0u8; 16];
        match sys::get_xattr(dir, DIR_ID_XATTR, &mut id) {
            Ok(16) => Some(DirId(id)),
            _ => None,
        }
    }

    /// Gives the new backing directory `dir` a fresh id, written and synced
    /// before any name in it is created; refuses to replace an existing one.
    /// The copy in the attribute follows; where the backing filesystem has
    /// no user attributes, the file alone serves.
    pub fn create_in(dir: &Path) -> Result<DirId, NameError> {
        let id = DirId::random().map_err(NameError::Random)?;
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o444)
            .open(dir.join(DIR_ID_FILE))
            .map_err(NameError::DirIdFile)?;
        file.write_all(&id.0)
            .and_then(|()| file.sync_all())
            .map_err(NameError::DirIdFile)?;
        if let Err(err) = sys::set_xattr(dir, DIR_ID_XATTR, &id.0) {
            log::debug!(
                "{}: no {DIR_ID_XATTR} ({err}): the id is read from {DIR_ID_FILE}",
                dir.display()
            );
        }
        Ok(id)
    }
}

/// A plaintext name as it is stored in the backing directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CipherName {
    /// The encoded name is the entry's name.
    Short(String),
    /// The entry is `kmsfs.long.<hash>`; its sidecar `kmsfs.long.<hash>.name`
    /// holds `full`, the encoded name.
    Long { entry: String, full: String },
}

impl CipherName {
    /// The entry's name in the backing directory.
    pub fn entry(&self) -> &str {
        match self {
            CipherName::Short(name) => name,
            CipherName::Long { entry, .. } => entry,
        }
    }

    /// For a long name, the sidecar's file name and the content to write to it.
    pub fn sidecar(&self) -> Option<(String, &str)> {
        match self {
            CipherName::Short(_) => None,
            CipherName::Long { entry, full } => Some((sidecar_name(entry), full)),
        }
    }
}

/// The sidecar file name of a long entry.
pub fn sidecar_name(entry: &str) -> String {
    format!("{entry}{SIDECAR_SUFFIX}")
}

#[derive(Debug)]
pub enum NameError {
    Empty,
    /// "." or "..".
    Dot,
    Slash,
    Nul,
    /// Longer than [`MAX_NAME_LEN`] bytes (ENAMETOOLONG).
    TooLong {
        len: usize,
    },
    /// Longer than [`MAX_LINK_TARGET_LEN`] bytes (ENAMETOOLONG).
    TargetTooLong {
        len: usize,
    },
    /// Not the encoding of an encrypted name or target (a foreign file).
    NotEncrypted,
    /// Does not decrypt under this volume's name key in this directory.
    Authentication,
    /// The sidecar of a long name could not be read.
    Sidecar(io::Error),
    /// The sidecar's content does not hash to its entry's name.
    SidecarMismatch,
    /// A directory id file could not be read or written.
    DirIdFile(io::Error),
    BadDirId {
        len: usize,
    },
    /// The directory's id file and the copy in its attribute differ.
    DirIdCopyDiffers,
    Random(CryptoError),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => f.write_str("empty name"),
            NameError::Dot => f.write_str("'.' and '..' are not names"),
            NameError::Slash => f.write_str("a name cannot contain '/'"),
            NameError::Nul => f.write_str("a name cannot contain a NUL byte"),
            NameError::TooLong { len } => {
                write!(f, "name of {len} bytes is longer than {MAX_NAME_LEN}")
            }
            NameError::TargetTooLong { len } => write!(
                f,
                "symlink target of {len} bytes is longer than {MAX_LINK_TARGET_LEN}"
            ),
            NameError::NotEncrypted => f.write_str("not an encrypted name"),
            NameError::Authentication => {
                f.write_str("the name does not decrypt with this volume's key in this directory")
            }
            NameError::Sidecar(e) => write!(f, "cannot read the long name sidecar: {e}"),
            NameError::SidecarMismatch => {
                f.write_str("the long name sidecar does not belong to its entry")
            }
            NameError::DirIdFile(e) => write!(f, "cannot use {DIR_ID_FILE}: {e}"),
            NameError::BadDirId { len } => {
                write!(f, "{DIR_ID_FILE} holds {len} bytes; a directory id is 16")
            }
            NameError::DirIdCopyDiffers => write!(
                f,
                "{DIR_ID_FILE} differs from the directory's {DIR_ID_XATTR} attribute"
            ),
            NameError::Random(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for NameError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            NameError::Sidecar(e) | NameError::DirIdFile(e) => Some(e),
            NameError::Random(e) => Some(e),
            _ => None,
        }
    }
}

/// Refuses what is not a single path component of at most 255 bytes.
fn check_name(name: &[u8]) -> Result<(), NameError> {
    match name {
        [] => Err(NameError::Empty),
        b"." | b".." => Err(NameError::Dot),
        _ if name.contains(&b'/') => Err(NameError::Slash),
        _ if name.contains(&0) => Err(NameError::Nul),
        _ if name.len() > MAX_NAME_LEN => Err(NameError::TooLong { len: name.len() }),
        _ => Ok(()),
    }
}

/// `plain ‖ p × p` with `p` in 1..=16 bytes, to a multiple of 16 (PKCS #7).
fn pad(plain: &[u8]) -> Vec<u8> {
    let pad_len = PAD_BLOCK - plain.len() % PAD_BLOCK;
    let mut out = Vec::with_capacity(plain.len() + pad_len);
    out.extend_from_slice(plain);
    out.resize(plain.len() + pad_len, pad_len as u8);
    out
}

fn unpad(mut padded: Vec<u8>) -> Option<Vec<u8>> {
    let pad_len = usize::from(*padded.last()?);
    let valid = padded.len() % PAD_BLOCK == 0
        && (1..=PAD_BLOCK).contains(&pad_len)
        && padded[padded.len() - pad_len..]
            .iter()
            .all(|&b| usize::from(b) == pad_len);
    if !valid {
        return None;
    }
    padded.truncate(padded.len() - pad_len);
    Some(padded)
}

/// `kmsfs.long.` ‖ base64url(SHA-256(encoded name)).
fn long_entry(encoded: &str) -> String {
    format!(
        "{LONG_PREFIX}{}",
        BASE64URL.encode(Sha256::digest(encoded.as_bytes()))
    )
}

/// The digest a long entry's name carries, if `entry` is one.
fn long_entry_digest(entry: &str) -> Option<Vec<u8>> {
    let hash = entry.strip_prefix(LONG_PREFIX)?;
    if hash.len() != LONG_HASH_LEN {
        return None;
    }
    BASE64URL.decode(hash).ok()
}

/// `base64url(SIV[name key](pad(plain), ad = dir id))`, or its long form.
pub fn encrypt_name(key: &NameKey, dir: &DirId, plain: &OsStr) -> Result<CipherName, NameError> {
    let plain = plain.as_bytes();
    check_name(plain)?;
    let sealed = key
        .seal(&[&dir.0], &pad(plain))
        .map_err(NameError::Random)?;
    let encoded = BASE64URL.encode(sealed);
    if encoded.len() <= MAX_NAME_LEN {
        Ok(CipherName::Short(encoded))
    } else {
        Ok(CipherName::Long {
            entry: long_entry(&encoded),
            full: encoded,
        })
    }
}

/// The plaintext name of the backing entry `cipher_entry` in directory `dir`.
/// For a long entry, `read_long` is given the sidecar's file name and returns
/// its content.
pub fn decrypt_name(
    key: &NameKey,
    dir: &DirId,
    cipher_entry: &str,
    read_long: impl FnOnce(&str) -> io::Result<String>,
) -> Result<OsString, NameError> {
    let encoded = match long_entry_digest(cipher_entry) {
        Some(digest) => {
            let full = read_long(&sidecar_name(cipher_entry)).map_err(NameError::Sidecar)?;
            if Sha256::digest(full.as_bytes()).as_slice() != digest.as_slice() {
                return Err(NameError::SidecarMismatch);
            }
            Cow::Owned(full)
        }
        None => Cow::Borrowed(cipher_entry),
    };
    let sealed = BASE64URL
        .decode(encoded.as_bytes())
        .map_err(|_| NameError::NotEncrypted)?;
    let padded = key
        .open(&[&dir.0], &sealed)
        .map_err(|_| NameError::Authentication)?;
    let plain = unpad(padded).ok_or(NameError::Authentication)?;
    check_name(&plain)?;
    Ok(OsString::from_vec(plain))
}

/// `base64url(nonce ‖ SIV[name key](pad(target), ad = "kmsfs:symlink", nonce))`
/// with a fresh 16-byte nonce: not tied to a directory, so a symlink keeps
/// its target through rename and hard links, and equal targets look different.
pub fn encrypt_link_target(key: &NameKey, target: &OsStr) -> Result<String, NameError> {
    let target = target.as_bytes();
    if target.is_empty() {
        return Err(NameError::Empty);
    }
    if target.contains(&0) {
        return Err(NameError::Nul);
    }
    if target.len() > MAX_LINK_TARGET_LEN {
        return Err(NameError::TargetTooLong { len: target.len() });
    }
    let mut nonce = [0u8; LINK_NONCE_LEN];
    random_bytes(&mut nonce).map_err(NameError::Random)?;
    let sealed = key
        .seal(&[SYMLINK_CONTEXT, &nonce], &pad(target))
        .map_err(NameError::Random)?;
    let encoded = BASE64URL.encode([&nonce[..], &sealed].concat());
    debug_assert!(encoded.len() <= MAX_BACKING_TARGET_LEN);
    Ok(encoded)
}

/// The plaintext target of a backing symlink whose target is `cipher_target`.
pub fn decrypt_link_target(key: &NameKey, cipher_target: &str) -> Result<OsString, NameError> {
    let bytes = BASE64URL
        .decode(cipher_target)
        .map_err(|_| NameError::NotEncrypted)?;
    if bytes.len() < LINK_NONCE_LEN {
        return Err(NameError::NotEncrypted);
    }
    let (nonce, sealed) = bytes.split_at(LINK_NONCE_LEN);
    let padded = key
        .open(&[SYMLINK_CONTEXT, nonce], sealed)
        .map_err(|_| NameError::Authentication)?;
    let target = unpad(padded).ok_or(NameError::Authentication)?;
    Ok(OsString::from_vec(target))
}

/// Whether a backing entry is kmsfs's own (the volume config, directory ids,
/// long name sidecars) and hidden from readdir. Long entries themselves are
/// files of the volume and are listed.
pub fn is_internal_name(name: &OsStr) -> bool {
    match name.to_str() {
        Some(name) => name.starts_with(INTERNAL_PREFIX) && long_entry_digest(name).is_none(),
        None => name.as_bytes().starts_with(INTERNAL_PREFIX.as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretBytes;

    fn key() -> NameKey {
        NameKey::generate().unwrap()
    }

    fn no_sidecar(_: &str) -> io::Result<String> {
        panic!("a short name needs no sidecar")
    }

    fn name(len: usize) -> OsString {
        OsString::from("n".repeat(len))
    }

    #[test]
    fn names_round_trip_and_the_same_name_differs_between_directories() {
        let key = key();
        let (dir_a, dir_b) = (DirId::random().unwrap(), DirId::random().unwrap());
        for plain in [
            "a",
            "report.txt",
            "kmsfs.volume",
            "with space",
            "ünïcødé",
            ".hidden",
        ] {
            let in_a = encrypt_name(&key, &dir_a, OsStr::new(plain)).unwrap();
            let in_b = encrypt_name(&key, &dir_b, OsStr::new(plain)).unwrap();
            assert_ne!(in_a, in_b);
            assert_eq!(in_a, encrypt_name(&key, &dir_a, OsStr::new(plain)).unwrap());
            // (A one-letter name can turn up in base64 by chance.)
            assert!(plain.len() < 4 || !in_a.entry().contains(plain));
            assert!(!is_internal_name(OsStr::new(in_a.entry())));
            let back = decrypt_name(&key, &dir_a, in_a.entry(), no_sidecar).unwrap();
            assert_eq!(back, OsStr::new(plain));
            // Negative partners: the other directory's id, another key.
            assert!(matches!(
                decrypt_name(&key, &dir_b, in_a.entry(), no_sidecar),
                Err(NameError::Authentication)
            ));
            assert!(matches!(
                decrypt_name(
                    &NameKey::generate().unwrap(),
                    &dir_a,
                    in_a.entry(),
                    no_sidecar
                ),
                Err(NameError::Authentication)
            ));
        }
        // Non-UTF-8 names are names too.
        let raw = OsStr::from_bytes(b"\xff\xfe.bin");
        let cipher = encrypt_name(&key, &dir_a, raw).unwrap();
        assert_eq!(
            decrypt_name(&key, &dir_a, cipher.entry(), no_sidecar).unwrap(),
            raw
        );
    }

    #[test]
    fn encoded_lengths_hide_the_exact_length_and_switch_to_long_at_160() {
        let (key, dir) = (key(), DirId::random().unwrap());
        let entry_len = |len| encrypt_name(&key, &dir, &name(len)).unwrap().entry().len();
        assert_eq!(entry_len(1), 43);
        assert_eq!(entry_len(15), 43);
        assert_eq!(entry_len(16), 64);
        assert_eq!(entry_len(159), 235);
        assert!(matches!(
            encrypt_name(&key, &dir, &name(159)).unwrap(),
            CipherName::Short(_)
        ));
        assert!(matches!(
            encrypt_name(&key, &dir, &name(160)).unwrap(),
            CipherName::Long { .. }
        ));
    }

    #[test]
    fn a_255_byte_name_works_through_its_long_form() {
        let (key, dir) = (key(), DirId::random().unwrap());
        let plain = name(MAX_NAME_LEN);
        let cipher = encrypt_name(&key, &dir, &plain).unwrap();
        let CipherName::Long { entry, full } = &cipher else {
            panic!("a 255-byte name must take the long form");
        };
        assert_eq!(full.len(), 363);
        assert_eq!(entry.len(), 54);
        assert!(entry.starts_with("kmsfs.long."));
        assert!(!is_internal_name(OsStr::new(entry)));
        let (sidecar, content) = cipher.sidecar().unwrap();
        assert_eq!(sidecar, format!("{entry}.name"));
        assert!(is_internal_name(OsStr::new(&sidecar)));
        assert_eq!(content, full);
        // Through real files: an ext4-like backing directory takes both names.
        let backing = tempfile::tempdir().unwrap();
        std::fs::write(backing.path().join(entry), b"").unwrap();
        std::fs::write(backing.path().join(&sidecar), content).unwrap();
        let read = |name: &str| std::fs::read_to_string(backing.path().join(name));
        assert_eq!(decrypt_name(&key, &dir, entry, read).unwrap(), plain);
        // A sidecar swapped for another long name's is refused.
        let other = encrypt_name(&key, &dir, &name(200)).unwrap();
        let other_full = other.sidecar().unwrap().1.to_string();
        assert!(matches!(
            decrypt_name(&key, &dir, entry, |_| Ok(other_full)),
            Err(NameError::SidecarMismatch)
        ));
        let missing = |_: &str| Err(io::Error::from(io::ErrorKind::NotFound));
        assert!(matches!(
            decrypt_name(&key, &dir, entry, missing),
            Err(NameError::Sidecar(_))
        ));
    }

    #[test]
    fn bad_plaintext_names_are_refused() {
        let (key, dir) = (key(), DirId::random().unwrap());
        let refuse = |plain: &[u8]| encrypt_name(&key, &dir, OsStr::from_bytes(plain)).unwrap_err();
        assert!(matches!(refuse(b""), NameError::Empty));
        assert!(matches!(refuse(b"."), NameError::Dot));
        assert!(matches!(refuse(b".."), NameError::Dot));
        assert!(matches!(refuse(b"a/b"), NameError::Slash));
        assert!(matches!(refuse(b"a\0b"), NameError::Nul));
        assert!(matches!(
            refuse(&[b'x'; 256]),
            NameError::TooLong { len: 256 }
        ));
        assert!(encrypt_name(&key, &dir, OsStr::new("...")).is_ok());
    }

    #[test]
    fn tampered_and_foreign_entries_are_refused() {
        let (key, dir) = (key(), DirId::random().unwrap());
        let entry = encrypt_name(&key, &dir, OsStr::new("secret.txt"))
            .unwrap()
            .entry()
            .to_string();
        for i in 0..entry.len() {
            let mut tampered = entry.clone().into_bytes();
            tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(tampered).unwrap();
            assert!(
                decrypt_name(&key, &dir, &tampered, no_sidecar).is_err(),
                "{i}"
            );
        }
        for foreign in ["lost+found", "kmsfs.dirid", "a", "", "AAAA"] {
            assert!(
                decrypt_name(&key, &dir, foreign, no_sidecar).is_err(),
                "{foreign}"
            );
        }
        assert!(matches!(
            decrypt_name(&key, &dir, "lost+found", no_sidecar),
            Err(NameError::NotEncrypted)
        ));
    }

    #[test]
    fn symlink_targets_round_trip_across_directories() {
        let key = key();
        for target in ["../a/b", "/etc/passwd", "x", "dir with space/ünï"] {
            let cipher = encrypt_link_target(&key, OsStr::new(target)).unwrap();
            assert!(target.len() < 4 || !cipher.contains(target));
            assert_ne!(
                cipher,
                encrypt_link_target(&key, OsStr::new(target)).unwrap()
            );
            assert_eq!(
                decrypt_link_target(&key, &cipher).unwrap(),
                OsStr::new(target)
            );
            assert!(matches!(
                decrypt_link_target(&NameKey::generate().unwrap(), &cipher),
                Err(NameError::Authentication)
            ));
            let mut tampered = cipher.clone().into_bytes();
            let last = tampered.len() - 2;
            tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
            assert!(decrypt_link_target(&key, &String::from_utf8(tampered).unwrap()).is_err());
        }
        // An encrypted name is not a valid target, nor the other way round.
        let dir = DirId::random().unwrap();
        let name = encrypt_name(&key, &dir, OsStr::new("x")).unwrap();
        assert!(decrypt_link_target(&key, name.entry()).is_err());
        let target = encrypt_link_target(&key, OsStr::new("x")).unwrap();
        assert!(decrypt_name(&key, &dir, &target, no_sidecar).is_err());
    }

    #[test]
    fn the_longest_target_fits_a_backing_symlink_and_one_more_byte_is_refused() {
        let key = key();
        let longest = OsString::from("t".repeat(MAX_LINK_TARGET_LEN));
        let cipher = encrypt_link_target(&key, &longest).unwrap();
        assert!(cipher.len() <= MAX_BACKING_TARGET_LEN);
        assert_eq!(decrypt_link_target(&key, &cipher).unwrap(), longest);
        let backing = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(&cipher, backing.path().join("link")).unwrap();
        let too_long = OsString::from("t".repeat(MAX_LINK_TARGET_LEN + 1));
        assert!(matches!(
            encrypt_link_target(&key, &too_long),
            Err(NameError::TargetTooLong { len: 3024 })
        ));
        assert!(matches!(
            encrypt_link_target(&key, OsStr::new("")),
            Err(NameError::Empty)
        ));
        assert!(matches!(
            encrypt_link_target(&key, OsStr::from_bytes(b"a\0")),
            Err(NameError::Nul)
        ));
    }

    #[test]
    fn internal_names_are_kmsfs_files_but_not_long_entries() {
        let (key, dir) = (key(), DirId::random().unwrap());
        let long = encrypt_name(&key, &dir, &name(200)).unwrap();
        for internal in ["kmsfs.volume", "kmsfs.dirid", &long.sidecar().unwrap().0] {
            assert!(is_internal_name(OsStr::new(internal)), "{internal}");
        }
        for listed in [long.entry(), "report.txt", "kmsfs", "kmsfs.long.short"] {
            let expected = listed == "kmsfs.long.short";
            assert_eq!(is_internal_name(OsStr::new(listed)), expected, "{listed}");
        }
        assert!(is_internal_name(OsStr::from_bytes(b"kmsfs.\xff")));
    }

    #[test]
    fn directory_ids_are_created_once_and_read_back() {
        let backing = tempfile::tempdir().unwrap();
        let id = DirId::create_in(backing.path()).unwrap();
        assert_eq!(DirId::read_in(backing.path()).unwrap(), id);
        assert!(matches!(
            DirId::create_in(backing.path()),
            Err(NameError::DirIdFile(_))
        ));
        let other = tempfile::tempdir().unwrap();
        assert!(matches!(
            DirId::read_in(other.path()),
            Err(NameError::DirIdFile(_))
        ));
        std::fs::write(other.path().join(DIR_ID_FILE), [1u8; 15]).unwrap();
        assert!(matches!(
            DirId::read_in(other.path()),
            Err(NameError::BadDirId { len: 15 })
        ));
    }

    fn attribute_of(dir: &Path) -> Option<Vec<u8>> {
        let mut value = [0u8; 64];
        let len = sys::get_xattr(dir, DIR_ID_XATTR, &mut value).ok()?;
        Some(value[..len].to_vec())
    }

    #[test]
    fn the_id_is_read_from_its_attribute_and_the_file_stays_the_reference() {
        let backing = tempfile::tempdir().unwrap();
        let dir = backing.path();
        let id = DirId::create_in(dir).unwrap();
        assert_eq!(attribute_of(dir).as_deref(), Some(&id.0[..]));

        // The attribute is what a read finds; fsck's read refuses a copy that differs.
        let file_id = DirId([7u8; 16]);
        let file = dir.join(DIR_ID_FILE);
        std::fs::remove_file(&file).unwrap();
        std::fs::write(&file, file_id.0).unwrap();
        assert_eq!(DirId::read_in(dir).unwrap(), id);
        assert!(matches!(
            DirId::read_checked(dir),
            Err(NameError::DirIdCopyDiffers)
        ));

        // Without the attribute (a copy that dropped it, a filesystem
        // without user attributes) the file serves.
        sys::remove_xattr(dir, DIR_ID_XATTR).unwrap();
        assert_eq!(DirId::read_in(dir).unwrap(), file_id);
        assert_eq!(DirId::read_checked(dir).unwrap(), file_id);

        // An attribute that is not 16 bytes is not a copy; a missing file is
        // damage even where the attribute is whole.
        sys::set_xattr(dir, DIR_ID_XATTR, &[1u8; 15]).unwrap();
        assert_eq!(DirId::read_in(dir).unwrap(), file_id);
        sys::set_xattr(dir, DIR_ID_XATTR, &id.0).unwrap();
        std::fs::remove_file(&file).unwrap();
        assert_eq!(DirId::read_in(dir).unwrap(), id);
        assert!(matches!(
            DirId::read_checked(dir),
            Err(NameError::DirIdFile(_))
        ));
    }

    /// Frozen encodings of format version 1: a fixed key and directory id
    /// must keep giving these names.
    #[test]
    fn frozen_name_encodings() {
        let key = NameKey::from_secret(&SecretBytes::new((0u8..64).collect())).unwrap();
        let dir = DirId(*b"kmsfs-vector-dir");
        let short = encrypt_name(&key, &dir, OsStr::new("hello.txt")).unwrap();
        assert_eq!(short.entry(), FROZEN_SHORT);
        let long = encrypt_name(&key, &dir, &name(200)).unwrap();
        assert_eq!(long.entry(), FROZEN_LONG_ENTRY);
        assert_eq!(
            decrypt_name(&key, &dir, FROZEN_SHORT, no_sidecar).unwrap(),
            "hello.txt"
        );
    }

    const FROZEN_SHORT: &str = "O3xIda-Onry-hAzDMKAGSR3zqUDb5IxbH9vG2930OJg";
    const FROZEN_LONG_ENTRY: &str = "kmsfs.long.UyTcn7IV7s0jhu_nsrV-DoxpXtg9CXqSjyEC6OpdHNc";
}
