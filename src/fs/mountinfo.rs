//! The mount table as this process sees it (/proc/self/mountinfo): which
//! directories are mount points, and of which filesystem type. Parsing and one
//! file read; must not import fuser, libc or anything above `fs`.

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

/// The filesystem type a kmsfs mount shows in the mount table (`fuse.` + subtype).
pub const KMSFS_FS_TYPE: &str = "fuse.kmsfs";

/// One line of the mount table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub mount_point: PathBuf,
    pub fs_type: String,
    pub source: String,
}

/// Every mount of this process's mount namespace, in mount order.
pub fn mounts() -> io::Result<Vec<MountEntry>> {
    Ok(parse(&std::fs::read_to_string("/proc/self/mountinfo")?))
}

/// The mount on top at `mount_point` (an absolute path without symlinks), if any.
pub fn mount_at(mount_point: &Path) -> io::Result<Option<MountEntry>> {
    Ok(mounts()?
        .into_iter()
        .rev()
        .find(|entry| entry.mount_point == mount_point))
}

/// The absolute, symlink-free form of `path` as the mount table spells it, found
/// without entering `path` itself: the root of a mount whose daemon died cannot be
/// entered (ENOTCONN), yet it must still be found and unmounted.
pub fn absolute_mount_point(path: &Path) -> io::Result<PathBuf> {
    let absolute = std::path::absolute(path)?;
    let (Some(parent), Some(name)) = (absolute.parent(), absolute.file_name()) else {
        return absolute.canonicalize();
    };
    let joined = parent.canonicalize()?.join(name);
    match joined.symlink_metadata() {
        Ok(meta) if meta.file_type().is_symlink() => joined.canonicalize(),
        _ => Ok(joined),
    }
}

/// Parses mountinfo text (proc(5)): `ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS
/// [OPTIONAL...] - FS_TYPE SOURCE SUPER_OPTIONS`. Malformed lines are skipped.
pub fn parse(text: &str) -> Vec<MountEntry> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<MountEntry> {
    let fields: Vec<&str> = line.split(' ').collect();
    let mount_point = fields.get(4)?;
    let separator = fields.iter().skip(6).position(|f| *f == "-")? + 6;
    let fs_type = fields.get(separator + 1)?;
    let source = fields.get(separator + 2)?;
    Some(MountEntry {
        mount_point: PathBuf::from(unescape(mount_point)),
        fs_type: String::from_utf8_lossy(unescape(fs_type).as_encoded_bytes()).into_owned(),
        source: String::from_utf8_lossy(unescape(source).as_encoded_bytes()).into_owned(),
    })
}

/// Undoes the kernel's octal escapes (`\040` for a space, `\134` for a backslash...).
fn unescape(field: &str) -> OsString {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|digits| {
            let text = std::str::from_utf8(digits).ok()?;
            u8::from_str_radix(text, 8).ok()
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    OsString::from_vec(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 - ext4 /dev/root rw,errors=continue
51 22 0:45 / /tmp/m rw,nosuid,nodev,relatime - fuse.kmsfs kmsfs:/tmp/back\\134slash rw,user_id=0,group_id=0,default_permissions,allow_other
garbage line
";

    #[test]
    fn parses_mount_points_types_and_sources_with_escapes() {
        let entries = parse(SAMPLE);
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].mount_point, Path::new("/proc"));
        assert_eq!(entries[0].fs_type, "proc");
        assert_eq!(entries[1].mount_point, Path::new("/mnt/with space"));
        assert_eq!(entries[1].fs_type, "ext4");
        assert_eq!(entries[2].fs_type, KMSFS_FS_TYPE);
        assert_eq!(entries[2].source, "kmsfs:/tmp/back\\slash");
    }

    #[test]
    fn lines_without_the_separator_are_skipped() {
        assert!(parse("1 2 0:1 / /x rw shared:1 ext4 /dev/x rw").is_empty());
        assert!(parse("").is_empty());
    }

    #[test]
    fn a_backslash_without_octal_digits_stays() {
        assert_eq!(unescape("a\\x"), OsString::from("a\\x"));
        assert_eq!(unescape("tail\\04"), OsString::from("tail\\04"));
        assert_eq!(unescape("\\011tab"), OsString::from("\ttab"));
    }

    #[test]
    fn mount_points_are_made_absolute_without_entering_them() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().canonicalize().unwrap();
        std::fs::create_dir(real.join("mnt")).unwrap();
        std::os::unix::fs::symlink(real.join("mnt"), real.join("link")).unwrap();
        let here = absolute_mount_point(&dir.path().join("mnt")).unwrap();
        assert_eq!(here, real.join("mnt"));
        assert_eq!(
            absolute_mount_point(&real.join("link")).unwrap(),
            real.join("mnt")
        );
        assert_eq!(absolute_mount_point(&real.join("mnt/..")).unwrap(), real);
        // A missing last component is still resolved (the caller reports it).
        assert_eq!(
            absolute_mount_point(&real.join("gone")).unwrap(),
            real.join("gone")
        );
        assert!(absolute_mount_point(&real.join("gone/deeper")).is_err());
        assert_eq!(
            absolute_mount_point(Path::new("/")).unwrap(),
            Path::new("/")
        );
    }

    #[test]
    fn this_process_sees_its_root_mount() {
        let all = mounts().unwrap();
        assert!(all.iter().any(|m| m.mount_point == Path::new("/")));
        assert!(mount_at(Path::new("/")).unwrap().is_some());
    }
}
