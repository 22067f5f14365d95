//! What the core answers about nodes, in plain types the adapter converts for
//! the kernel: attributes with plaintext sizes, directory listings,
//! filesystem statistics, and the changes setattr asks for.
//! Must not import fuser.

use std::ffi::OsString;
use std::time::SystemTime;

use super::backing::{BackingStat, FsStats, Kind, TimeSet};
use super::inode::NodeId;

/// A node's attributes as `stat` shows them on the mount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr {
    pub id: NodeId,
    /// Plaintext bytes of a file, target length of a symlink.
    pub size: u64,
    /// 512-byte blocks the backing inode takes.
    pub blocks: u64,
    pub atime: SystemTime,
    pub mtime: SystemTime,
    pub ctime: SystemTime,
    pub kind: Kind,
    pub perm: u16,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u32,
    pub blksize: u32,
}

impl Attr {
    /// The attributes of backing inode `stat` as node `id` of `size`
    /// plaintext bytes.
    pub fn new(id: NodeId, stat: &BackingStat, size: u64) -> Attr {
        Attr {
            id,
            size,
            blocks: stat.blocks,
            atime: stat.atime,
            mtime: stat.mtime,
            ctime: stat.ctime,
            kind: stat.kind,
            perm: stat.perm,
            nlink: u32::try_from(stat.nlink).unwrap_or(u32::MAX),
            uid: stat.uid,
            gid: stat.gid,
            // FUSE carries 32-bit device numbers.
            rdev: stat.rdev as u32,
            blksize: stat.blksize,
        }
    }
}

/// One name of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub id: NodeId,
    pub kind: Kind,
    pub name: OsString,
    /// The backing inode number the listing found under the name.
    pub ino: u64,
    /// The backing entry the name is stored under (empty for `.` and `..`).
    pub entry: String,
}

/// statfs of the volume: the backing filesystem's counts.
#[derive(Clone, Copy, Debug)]
pub struct StatFs {
    pub stats: FsStats,
    pub max_name_len: u32,
}

/// The changes a setattr asks for; `None` leaves a field as it is.
#[derive(Clone, Copy, Debug, Default)]
pub struct SetAttr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<TimeSet>,
    pub mtime: Option<TimeSet>,
}
