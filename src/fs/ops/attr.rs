//! Attributes: getattr with plaintext sizes, setattr (chmod, chown, utimens,
//! truncate), statfs, and access by mode bits.

use crate::fs::backing::{self, BackingStat, Kind};
use crate::fs::caller::Requester;
use crate::fs::error::FsError;
use crate::fs::handle::HandleId;
use crate::fs::inode::NodeId;
use crate::fs::node::Node;
use crate::fs::types::{Attr, SetAttr, StatFs};
use crate::object::layout::Layout;
use crate::volume::names::{self, MAX_NAME_LEN};

use super::FsCore;

/// access(2) mask bits.
pub const MAY_READ: u32 = 4;
pub const MAY_WRITE: u32 = 2;
pub const MAY_EXECUTE: u32 = 1;

impl FsCore {
    pub fn getattr(&self, id: NodeId) -> Result<Attr, FsError> {
        let node = self.node(id)?;
        self.attr(id, &node)
    }

    /// The attributes of `node`, whose node id is `id`, from a fresh stat.
    pub(super) fn attr(&self, id: NodeId, node: &Node) -> Result<Attr, FsError> {
        match node.kind() {
            Kind::RegularFile => {
                // Not while a write is extending the file: its size on disk
                // would fall between two whole chunks.
                let state = node.state();
                let stat = backing::stat(node.fd())?;
                // The header's own layout once the file was opened; else the
                // volume's, which every object of the volume has (cold stats
                // read no header). An object planted from elsewhere may show
                // a wrong size until opened; its open fails or corrects it.
                let layout = state.layout.unwrap_or(self.usual_layout);
                Ok(Attr::new(id, &stat, plain_size(layout, &stat)))
            }
            Kind::Symlink => {
                let stat = backing::stat(node.fd())?;
                let size = self
                    .link_target(node)
                    .map_or(stat.size, |target| target.len() as u64);
                Ok(Attr::new(id, &stat, size))
            }
            _ => {
                let stat = backing::stat(node.fd())?;
                Ok(Attr::new(id, &stat, stat.size))
            }
        }
    }

    /// `attr` for the stat just taken of a node found by lookup.
    pub(super) fn attr_of(
        &self,
        id: NodeId,
        node: &Node,
        stat: &BackingStat,
    ) -> Result<Attr, FsError> {
        match stat.kind {
            Kind::RegularFile | Kind::Symlink => self.attr(id, node),
            _ => Ok(Attr::new(id, stat, stat.size)),
        }
    }

    pub fn setattr(
        &self,
        req: &Requester,
        id: NodeId,
        fh: Option<HandleId>,
        changes: &SetAttr,
    ) -> Result<Attr, FsError> {
        let node = self.node(id)?;
        let SetAttr {
            mode,
            uid,
            gid,
            size,
            atime,
            mtime,
        } = *changes;
        let any = mode.is_some()
            || uid.is_some()
            || gid.is_some()
            || size.is_some()
            || atime.is_some()
            || mtime.is_some();
        if any {
            self.check_writable()?;
        }
        if let Some(size) = size {
            self.truncate(req, &node, fh, size)?;
        }
        // Owner before mode: a chown clears set-user-id, a chmod may set it.
        if uid.is_some() || gid.is_some() {
            backing::set_owner(node.fd(), uid, gid)?;
        }
        if let Some(mode) = mode {
            backing::set_mode(node.fd(), mode)?;
        }
        if atime.is_some() || mtime.is_some() {
            backing::set_times(node.fd(), atime, mtime)?;
        }
        self.attr(id, &node)
    }

    pub fn statfs(&self) -> Result<StatFs, FsError> {
        let root = self.node(crate::fs::inode::ROOT_ID)?;
        Ok(StatFs {
            stats: backing::fs_stats(root.fd())?,
            max_name_len: MAX_NAME_LEN as u32,
        })
    }

    /// access(2) by mode bits, for mounts without default_permissions (with
    /// it the kernel checks and never asks). `mask` 0 asks whether it exists.
    pub fn access(&self, req: &Requester, id: NodeId, mask: u32) -> Result<(), FsError> {
        let node = self.node(id)?;
        let stat = backing::stat(node.fd())?;
        if mask & MAY_WRITE != 0 && self.options.read_only {
            return Err(FsError::ReadOnly);
        }
        let perm = u32::from(stat.perm);
        let granted = if req.uid == 0 {
            // Root reads and writes anything, and executes what anyone may.
            let any_execute = stat.kind == Kind::Directory || perm & 0o111 != 0;
            MAY_READ | MAY_WRITE | if any_execute { MAY_EXECUTE } else { 0 }
        } else if req.uid == stat.uid {
            perm >> 6
        } else if req.gid == stat.gid || req.caller().in_gid(stat.gid) {
            perm >> 3
        } else {
            perm
        } & 7;
        if mask & !granted != 0 {
            return Err(FsError::PermissionDenied);
        }
        Ok(())
    }

    /// The plaintext target of symlink `node`.
    pub(super) fn link_target(&self, node: &Node) -> Result<std::ffi::OsString, FsError> {
        let cipher_target = backing::read_link(node.fd())?;
        let cipher_target = cipher_target
            .to_str()
            .ok_or(FsError::Name(names::NameError::NotEncrypted))?;
        Ok(names::decrypt_link_target(
            self.volume.name_key(),
            cipher_target,
        )?)
    }
}

/// The plaintext size of an object of `stat.size` bytes laid out as `layout`;
/// 0 when that is impossible (open then fails with the reason).
fn plain_size(layout: Layout, stat: &BackingStat) -> u64 {
    layout.plain_len(stat.size).unwrap_or(0)
}
