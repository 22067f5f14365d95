//! A walk over a volume's backing tree with plaintext paths: every directory
//! (after its id is read), every entry with its decrypted path where the names
//! above it decrypt, and every name that does not. Shared by fsck and rewrap.
//! Only reads; must not import FUSE, the vault or the KMS.

use std::ffi::OsStr;
use std::fs::Metadata;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::names::{self, DirId, NameError};
use super::Volume;

/// What the walk met.
pub enum Visit<'a> {
    /// A directory, before its entries.
    Directory { path: &'a Path, shown: &'a str },
    /// A directory's id does not read: its entries' names cannot be decrypted.
    DirIdUnreadable {
        path: &'a Path,
        shown: &'a str,
        error: NameError,
    },
    /// An entry whose encrypted name (or long-name sidecar) does not authenticate.
    NameUnreadable { path: &'a Path, error: NameError },
    /// A non-directory entry.
    Entry {
        path: &'a Path,
        /// The plaintext path where the names decrypt, else the backing path.
        shown: &'a str,
        meta: &'a Metadata,
    },
    /// An entry or directory that cannot be read at all.
    Unreadable {
        path: &'a Path,
        shown: &'a str,
        error: io::Error,
    },
}

/// Handles what the walk meets; an error stops the walk.
pub trait Visitor {
    type Error;
    fn visit(&mut self, visit: Visit) -> Result<(), Self::Error>;
}

/// Walks the whole volume, depth first, entries in byte order of their backing names.
pub fn walk<V: Visitor>(volume: &Volume, visitor: &mut V) -> Result<(), V::Error> {
    directory(volume, visitor, volume.root(), Some("/"))
}

/// How many entries a walk meets, for a progress bar (a keyless count).
pub fn count_entries(backing: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(backing) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|entry| !names::is_internal_name(&entry.file_name()))
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => 1 + count_entries(&entry.path()),
            _ => 1,
        })
        .sum()
}

fn directory<V: Visitor>(
    volume: &Volume,
    visitor: &mut V,
    dir: &Path,
    plain: Option<&str>,
) -> Result<(), V::Error> {
    let shown = shown_path(dir, plain);
    visitor.visit(Visit::Directory {
        path: dir,
        shown: &shown,
    })?;
    let dir_id = match DirId::read_checked(dir) {
        Ok(id) => Some(id),
        Err(error) => {
            visitor.visit(Visit::DirIdUnreadable {
                path: dir,
                shown: &shown,
                error,
            })?;
            None
        }
    };
    let listed = std::fs::read_dir(dir).and_then(|it| it.collect::<Result<Vec<_>, _>>());
    let mut entries: Vec<_> = match listed {
        Ok(entries) => entries.into_iter().map(|entry| entry.file_name()).collect(),
        Err(error) => {
            return visitor.visit(Visit::Unreadable {
                path: dir,
                shown: &shown,
                error,
            })
        }
    };
    entries.retain(|name| !names::is_internal_name(name));
    entries.sort();
    for name in entries {
        let path = dir.join(&name);
        let child = match (&dir_id, plain) {
            (Some(id), Some(parent)) => match decrypt_entry_name(volume, id, dir, &name) {
                Ok(plain) => Some(join_plain(parent, &plain)),
                Err(error) => {
                    visitor.visit(Visit::NameUnreadable { path: &path, error })?;
                    None
                }
            },
            _ => None,
        };
        let shown = shown_path(&path, child.as_deref());
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => directory(volume, visitor, &path, child.as_deref())?,
            Ok(meta) => visitor.visit(Visit::Entry {
                path: &path,
                shown: &shown,
                meta: &meta,
            })?,
            Err(error) => visitor.visit(Visit::Unreadable {
                path: &path,
                shown: &shown,
                error,
            })?,
        }
    }
    Ok(())
}

fn decrypt_entry_name(
    volume: &Volume,
    id: &DirId,
    dir: &Path,
    name: &OsStr,
) -> Result<std::ffi::OsString, NameError> {
    let entry = name.to_str().ok_or(NameError::NotEncrypted)?;
    names::decrypt_name(volume.name_key(), id, entry, |sidecar| {
        std::fs::read_to_string(dir.join(sidecar))
    })
}

fn join_plain(parent: &str, name: &OsStr) -> String {
    let name = String::from_utf8_lossy(name.as_bytes());
    if parent.ends_with('/') {
        format!("{parent}{name}")
    } else {
        format!("{parent}/{name}")
    }
}

fn shown_path(backing: &Path, plain: Option<&str>) -> String {
    plain.map_or_else(|| backing.display().to_string(), str::to_string)
}
