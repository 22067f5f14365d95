//! The filesystem core without FUSE: a real vault, audit log and KMS, a real
//! volume in a temporary backing directory, and the core's operations called
//! as the kernel would call them.

mod auth;
mod dirs;
mod files;
mod links_attrs;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{FsCore, FsOptions};
use crate::audit::{lookup, AuditLog, LookupFilter};
use crate::crypto::{Cipher, KdfParams};
use crate::fs::backing::OpenFlags;
use crate::fs::caller::Requester;
use crate::fs::handle::HandleId;
use crate::fs::inode::{NodeId, ROOT_ID};
use crate::fs::types::{Attr, DirEntry};
use crate::kms::{Kms, NewKey, PolicyEdit};
use crate::model::Caller;
use crate::sys;
use crate::vault::{RootKeySource, Vault};
use crate::volume::Volume;

const CHUNK: usize = 4096;

struct Fixture {
    dir: tempfile::TempDir,
    fs: FsCore,
    key: String,
}

fn fixture() -> Fixture {
    fixture_with(Cipher::Aes256Gcm, FsOptions::default())
}

fn fixture_with(cipher: Cipher, options: FsOptions) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::init(
        &dir.path().join("vault/vault.db"),
        RootKeySource::KeyFile,
        KdfParams::default(),
    )
    .unwrap();
    let audit = AuditLog::open(&dir.path().join("vault/audit")).unwrap();
    let kms = Kms::new(vault, audit, "kmsfs-test").unwrap();
    let created = kms
        .create_key(
            &me(),
            &NewKey {
                description: "fs test",
                alias: None,
                admins: &[],
                users: &[],
            },
        )
        .unwrap();
    let key = created["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let backing = dir.path().join("backing");
    std::fs::create_dir(&backing).unwrap();
    Volume::create(&kms, &me(), &backing, &key, cipher, CHUNK as u32).unwrap();
    let volume = Volume::open(&kms, &me(), &backing).unwrap();
    let fs = FsCore::new(volume, kms, options).unwrap();
    Fixture { dir, fs, key }
}

fn me() -> Caller {
    sys::current_caller()
}

/// The test process as the requester, with its own ids (the vault owner).
fn owner() -> Requester {
    let me = me();
    Requester {
        uid: me.uid,
        gid: me.gid,
        pid: std::process::id(),
    }
}

/// The test process with a uid the key policy does not name.
fn stranger() -> Requester {
    Requester {
        uid: 4242,
        gid: 4242,
        pid: std::process::id(),
    }
}

fn flags(writable: bool) -> OpenFlags {
    OpenFlags {
        writable,
        append: false,
        truncate: false,
        exclusive: false,
    }
}

fn os(name: &str) -> &OsStr {
    OsStr::new(name)
}

impl Fixture {
    fn backing(&self) -> PathBuf {
        self.dir.path().join("backing")
    }

    fn audit(&self) -> PathBuf {
        self.dir.path().join("vault/audit")
    }

    /// Audit records named `event` about files (not the volume's name key),
    /// newest first.
    fn records(&self, event: &str) -> Vec<Value> {
        let filter = LookupFilter {
            event_name: Some(event.to_string()),
            path_glob: Some("*".to_string()),
            ..LookupFilter::default()
        };
        lookup(&self.audit(), &filter).unwrap()
    }

    fn edit_policy(&self, edit: PolicyEdit, principal: &str) {
        self.fs
            .kms(|kms| kms.edit_key_policy(&me(), &self.key, edit, principal))
            .unwrap();
    }

    /// Creates `name` in `parent`, open read-write.
    fn create(&self, parent: NodeId, name: &str) -> (Attr, HandleId) {
        self.fs
            .create(&owner(), parent, os(name), 0o644, 0o022, flags(true))
            .unwrap()
    }

    /// Creates `name` at the root holding `data`, closed again.
    fn file_with(&self, name: &str, data: &[u8]) -> NodeId {
        let (attr, fh) = self.create(ROOT_ID, name);
        self.write(fh, 0, data);
        self.fs.release(fh).unwrap();
        attr.id
    }

    fn write(&self, fh: HandleId, at: u64, data: &[u8]) {
        let written = self.fs.write(&owner(), fh, at, data).unwrap();
        assert_eq!(written as usize, data.len());
    }

    fn read(&self, fh: HandleId, at: u64, len: usize) -> Vec<u8> {
        self.fs.read(&owner(), fh, at, len as u32).unwrap().to_vec()
    }

    /// The whole content of node `id`, through an open of its own.
    fn content(&self, id: NodeId) -> Vec<u8> {
        let fh = self.fs.open(&owner(), id, flags(false)).unwrap().handle;
        let size = self.fs.getattr(id).unwrap().size as usize;
        let data = self.read(fh, 0, size + 100);
        self.fs.release(fh).unwrap();
        data
    }

    fn lookup(&self, parent: NodeId, name: &str) -> Option<Attr> {
        self.fs.lookup(parent, os(name)).ok()
    }

    /// The names `readdir` lists, without `.` and `..`, reading `per_reply`
    /// entries per call as a small kernel buffer would.
    fn list(&self, dir: NodeId, per_reply: usize) -> Vec<DirEntry> {
        let fh = self.fs.opendir(dir).unwrap();
        let mut entries = Vec::new();
        let mut offset = 0;
        loop {
            let mut batch = Vec::new();
            // As fuser's reply buffer: an entry that does not fit is refused
            // and offered again by the next call.
            self.fs
                .readdir(fh, offset, |entry, next| {
                    if batch.len() == per_reply {
                        return true;
                    }
                    batch.push((entry.clone(), next));
                    false
                })
                .unwrap();
            let Some((_, next)) = batch.last() else {
                break;
            };
            offset = *next;
            entries.extend(batch.into_iter().map(|(entry, _)| entry));
        }
        self.fs.releasedir(fh).unwrap();
        entries.retain(|e| e.name != "." && e.name != "..");
        entries
    }

    fn names(&self, dir: NodeId) -> Vec<String> {
        let mut names: Vec<String> = self
            .list(dir, 1000)
            .into_iter()
            .map(|e| e.name.to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Every file under the backing directory: relative path -> content
    /// (symlinks: their target).
    fn backing_tree(&self) -> BTreeMap<String, Vec<u8>> {
        fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                let relative = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                let meta = std::fs::symlink_metadata(&path).unwrap();
                if meta.is_dir() {
                    out.insert(relative, Vec::new());
                    walk(root, &path, out);
                } else if meta.is_symlink() {
                    let target = std::fs::read_link(&path).unwrap();
                    out.insert(relative, target.into_os_string().into_encoded_bytes());
                } else if meta.is_file() {
                    out.insert(relative, std::fs::read(&path).unwrap());
                } else {
                    out.insert(relative, Vec::new());
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(&self.backing(), &self.backing(), &mut out);
        out
    }

    /// The backing path of node `id`.
    fn backing_path(&self, id: NodeId) -> PathBuf {
        let node = self.fs.node(id).unwrap();
        std::fs::read_link(crate::fs::backing::proc_path(node.fd())).unwrap()
    }
}

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// `len` bytes of a recognisable pattern.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}
