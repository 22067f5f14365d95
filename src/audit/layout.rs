//! Where the trail's files live and what they are called (docs/AUDIT.md,
//! "Files"): the log tree `audit/YYYY/MM/DD/`, the parallel digest tree
//! `audit-digest/YYYY/MM/DD/`, the `rolling/` holding area, and the object
//! names (paths relative to the directory holding both trees) that digests use.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, NaiveDateTime, Utc};

use super::writer::create_private_dir;
use super::AuditError;

/// Extension of rolled log files and of digest files.
pub(super) const GZ_JSON: &str = ".json.gz";
/// Extension of a digest's signature file, beside the digest.
pub(super) const SIGNATURE_SUFFIX: &str = ".sig";
/// Where the roller parks the active log it took, until its gzip file is delivered.
const ROLLING_DIR: &str = "rolling";
/// Taken (flock, exclusive) by whoever rolls, writes digests or prunes.
const TRAIL_LOCK: &str = "trail.lock";
const LOG_TIME_FORMAT: &str = "%Y%m%dT%H%MZ";
const DIGEST_TIME_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// The two trees of one audit directory.
#[derive(Clone, Debug)]
pub struct TrailLayout {
    /// The directory holding both trees; object names are relative to it.
    root: PathBuf,
    logs: PathBuf,
    digests: PathBuf,
}

/// What a trail's file names say about where they come from.
#[derive(Clone, Debug)]
pub struct TrailIdentity {
    /// The vault's id (a UUID).
    pub vault_id: String,
    /// This host's name, as in the file names.
    pub host: String,
}

impl TrailIdentity {
    /// `host` is cleaned to `[A-Za-z0-9.-]` so that it cannot add `_` or `/`
    /// to a file name.
    pub fn new(vault_id: &str, host: &str) -> TrailIdentity {
        let host: String = host
            .trim()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        TrailIdentity {
            vault_id: vault_id.to_string(),
            host: if host.is_empty() {
                "localhost".into()
            } else {
                host
            },
        }
    }
}

impl TrailLayout {
    /// The layout of the audit directory `audit_dir` (which holds the active
    /// log): logs under it, digests in the sibling `<name>-digest`.
    pub fn new(audit_dir: &Path) -> TrailLayout {
        let root = audit_dir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let name = audit_dir
            .file_name()
            .map_or_else(|| "audit".into(), |n| n.to_string_lossy().into_owned());
        TrailLayout {
            logs: root.join(&name),
            digests: root.join(format!("{name}-digest")),
            root,
        }
    }

    pub fn logs(&self) -> &Path {
        &self.logs
    }

    pub fn digests(&self) -> &Path {
        &self.digests
    }

    pub(super) fn rolling(&self) -> PathBuf {
        self.logs.join(ROLLING_DIR)
    }

    pub(super) fn lock_path(&self) -> PathBuf {
        self.logs.join(TRAIL_LOCK)
    }

    /// The file an object name stands for.
    pub fn path_of(&self, object: &str) -> PathBuf {
        self.root.join(object)
    }

    /// The object name of a file inside either tree.
    pub(super) fn object_of(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned()
    }

    /// `audit/YYYY/MM/DD/<vault-id>_kmsfs_<host>_<YYYYMMDDTHHmmZ>_<random16>.json.gz`,
    /// named by its delivery time, as CloudTrail names its files.
    pub(super) fn log_object(
        &self,
        id: &TrailIdentity,
        delivered: DateTime<Utc>,
        unique: &str,
    ) -> String {
        let name = format!(
            "{}_kmsfs_{}_{}_{unique}{GZ_JSON}",
            id.vault_id,
            id.host,
            delivered.format(LOG_TIME_FORMAT)
        );
        self.object_of(&dated(&self.logs, delivered).join(name))
    }

    /// `audit-digest/YYYY/MM/DD/<vault-id>_kmsfs-digest_<host>_<YYYYMMDDTHHmmssZ>_<random16>.json.gz`,
    /// named by the digest's end time.
    pub(super) fn digest_object(
        &self,
        id: &TrailIdentity,
        end: DateTime<Utc>,
        unique: &str,
    ) -> String {
        let name = format!(
            "{}_kmsfs-digest_{}_{}_{unique}{GZ_JSON}",
            id.vault_id,
            id.host,
            end.format(DIGEST_TIME_FORMAT)
        );
        self.object_of(&dated(&self.digests, end).join(name))
    }

    /// Creates the directories of `path`'s dated folder (0700) if missing.
    pub(super) fn create_parent(&self, path: &Path) -> Result<(), AuditError> {
        match path.parent() {
            Some(parent) => create_private_dir(parent),
            None => Ok(()),
        }
    }
}

/// `tree/YYYY/MM/DD`.
fn dated(tree: &Path, at: DateTime<Utc>) -> PathBuf {
    tree.join(format!("{:04}", at.year()))
        .join(format!("{:02}", at.month()))
        .join(format!("{:02}", at.day()))
}

/// The delivery time in a log file's name, if the name has the kmsfs shape.
pub(super) fn delivery_time_of(object: &str) -> Option<DateTime<Utc>> {
    name_time(object, LOG_TIME_FORMAT)
}

/// The end time (to the second) in a digest file's name.
pub(super) fn digest_time_of(object: &str) -> Option<DateTime<Utc>> {
    name_time(object, DIGEST_TIME_FORMAT)
}

/// `<...>_<time>_<unique>.json.gz` -> time.
fn name_time(object: &str, format: &str) -> Option<DateTime<Utc>> {
    let name = object.rsplit('/').next()?.strip_suffix(GZ_JSON)?;
    let mut fields = name.rsplitn(3, '_');
    let _unique = fields.next()?;
    let time = fields.next()?;
    NaiveDateTime::parse_from_str(time, format)
        .ok()
        .map(|t| t.and_utc())
}

/// Every `*.json.gz` file in the dated folders of `tree`, oldest folder
/// first; within one, by the time in the name, then by modification time
/// (files of one minute, written one after the other under the trail lock),
/// then by name. An absent tree holds none.
pub(super) fn dated_files(tree: &Path) -> Result<Vec<PathBuf>, AuditError> {
    let mut files = Vec::new();
    for year in sorted_dirs(tree)? {
        for month in sorted_dirs(&year)? {
            for day in sorted_dirs(&month)? {
                let names: Vec<PathBuf> = entries(&day)?
                    .into_iter()
                    .filter(|p| p.is_file() && p.to_string_lossy().ends_with(GZ_JSON))
                    .collect();
                let mut keyed: Vec<_> = names
                    .into_iter()
                    .map(|path| {
                        let object = path.to_string_lossy();
                        let named = name_time(&object, LOG_TIME_FORMAT)
                            .or_else(|| name_time(&object, DIGEST_TIME_FORMAT));
                        let modified = fs::metadata(&path).and_then(|m| m.modified()).ok();
                        ((named, modified), path)
                    })
                    .collect();
                keyed.sort();
                files.extend(keyed.into_iter().map(|(_, path)| path));
            }
        }
    }
    Ok(files)
}

/// The folders in `dir` whose names are all digits (years, months, days), sorted.
fn sorted_dirs(dir: &Path) -> Result<Vec<PathBuf>, AuditError> {
    let mut dirs: Vec<PathBuf> = entries(dir)?
        .into_iter()
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// The entries of `dir`; none if it does not exist.
pub(super) fn entries(dir: &Path) -> Result<Vec<PathBuf>, AuditError> {
    let read_error = |source| AuditError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let listing = match fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(read_error(e)),
    };
    listing
        .map(|entry| entry.map(|e| e.path()).map_err(read_error))
        .collect()
}

/// 16 random characters from `[A-Za-z0-9]`, as in CloudTrail's names.
pub(super) fn unique16() -> Result<String, AuditError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 16];
    crate::crypto::random_bytes(&mut bytes).map_err(|e| AuditError::Random(e.to_string()))?;
    // 256 % 62 != 0: the small bias does not matter for a name that only avoids clashes.
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 4, h, m, s)
            .single()
            .expect("time")
    }

    #[test]
    fn objects_are_dated_and_named_like_cloudtrail() {
        let layout = TrailLayout::new(Path::new("/var/lib/kmsfs/audit"));
        let id = TrailIdentity::new("5f0c", "web_1/x");
        let log = layout.log_object(&id, at(9, 5, 59), "AbCdEfGhIjKlMnOp");
        assert_eq!(
            log,
            "audit/2026/03/04/5f0c_kmsfs_web-1-x_20260304T0905Z_AbCdEfGhIjKlMnOp.json.gz"
        );
        assert_eq!(layout.path_of(&log), Path::new("/var/lib/kmsfs").join(&log));
        assert_eq!(delivery_time_of(&log), Some(at(9, 5, 0)));
        assert_eq!(delivery_time_of("audit/2026/03/04/notes.json.gz"), None);
        let digest = layout.digest_object(&id, at(10, 0, 7), "0123456789abcdef");
        assert_eq!(
            digest,
            "audit-digest/2026/03/04/5f0c_kmsfs-digest_web-1-x_20260304T100007Z_0123456789abcdef.json.gz"
        );
    }

    #[test]
    fn unique_names_are_sixteen_alphanumerics_and_differ() {
        let (a, b) = (unique16().expect("random"), unique16().expect("random"));
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn dated_files_are_listed_oldest_first_and_others_ignored() {
        let tmp = tempfile::tempdir().expect("tempdir");
        // Named by time: the later minute last, whatever the random part or
        // the order of writing says.
        for rel in [
            "2026/11/02/v_kmsfs_h_20261102T0101Z_A.json.gz",
            "2026/11/02/v_kmsfs_h_20261102T0100Z_B.json.gz",
            "2025/12/31/z.json.gz",
            "2026/11/02/notes.txt",
            "rolling/x.json.gz",
        ] {
            let path = tmp.path().join(rel);
            fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            fs::write(&path, b"").expect("write");
        }
        let found: Vec<String> = dated_files(tmp.path())
            .expect("list")
            .iter()
            .map(|p| {
                p.strip_prefix(tmp.path())
                    .expect("inside")
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(
            found,
            [
                "2025/12/31/z.json.gz",
                "2026/11/02/v_kmsfs_h_20261102T0100Z_B.json.gz",
                "2026/11/02/v_kmsfs_h_20261102T0101Z_A.json.gz"
            ]
        );
        assert!(dated_files(&tmp.path().join("absent"))
            .expect("list")
            .is_empty());
    }
}
