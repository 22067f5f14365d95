//! Links: symlinks (backing symlinks whose targets are encrypted) and hard
//! links (backing hard links: one object, one key, several names).

use std::ffi::{OsStr, OsString};
use std::os::fd::AsFd;
use std::path::Path;

use crate::fs::backing::{self, Kind};
use crate::fs::caller::Requester;
use crate::fs::error::FsError;
use crate::fs::inode::NodeId;
use crate::fs::types::Attr;
use crate::volume::names;

use super::FsCore;

impl FsCore {
    pub fn symlink(
        &self,
        req: &Requester,
        parent: NodeId,
        name: &OsStr,
        target: &Path,
    ) -> Result<Attr, FsError> {
        self.check_writable()?;
        let (dir, dir_id) = self.dir(parent)?;
        let cipher = self.cipher_name(&dir_id, name)?;
        let cipher_target = names::encrypt_link_target(self.volume.name_key(), target.as_os_str())?;
        let dir_stat = backing::stat(dir.fd())?;
        self.write_sidecar(&dir, &cipher)?;
        backing::make_symlink(dir.fd(), cipher.entry(), &cipher_target)?;
        let fd = backing::open_entry(dir.fd(), cipher.entry())?;
        self.give_to_requester(req, &dir_stat, fd.as_fd())?;
        Ok(self.remember(&dir, name, fd)?.1)
    }

    pub fn readlink(&self, id: NodeId) -> Result<OsString, FsError> {
        let node = self.node(id)?;
        if node.kind() != Kind::Symlink {
            return Err(FsError::Invalid("not a symlink"));
        }
        self.link_target(&node)
    }

    /// A new name `new_name` in `new_parent` for node `id`.
    pub fn link(&self, id: NodeId, new_parent: NodeId, new_name: &OsStr) -> Result<Attr, FsError> {
        self.check_writable()?;
        let node = self.node(id)?;
        let (dir, dir_id) = self.dir(new_parent)?;
        let cipher = self.cipher_name(&dir_id, new_name)?;
        self.write_sidecar(&dir, &cipher)?;
        backing::link(node.fd(), dir.fd(), cipher.entry())?;
        let fd = backing::open_entry(dir.fd(), cipher.entry())?;
        Ok(self.remember(&dir, new_name, fd)?.1)
    }
}
