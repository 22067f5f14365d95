//! What the daemon holds, counted for its status line (SIGUSR1,
//! docs/OPERATIONS.md): open file and directory handles, unwrapped data keys
//! (one per regular file with an open handle), and the nodes the kernel knows.

use std::fmt;

use super::FsCore;

/// The counts, shown as `handles=N dirs=D data_keys=M nodes=K`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsStatus {
    /// Open file handles.
    pub handles: usize,
    /// Open directory handles.
    pub dirs: usize,
    /// Data keys held in memory.
    pub data_keys: usize,
    /// Nodes (backing inodes the kernel has looked up), the root included.
    pub nodes: usize,
}

impl fmt::Display for FsStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "handles={} dirs={} data_keys={} nodes={}",
            self.handles, self.dirs, self.data_keys, self.nodes
        )
    }
}

impl FsCore {
    pub fn status(&self) -> FsStatus {
        let nodes = self.nodes.all();
        let data_keys = nodes
            .iter()
            .filter(|node| node.state().open.is_some())
            .count();
        FsStatus {
            handles: self.files.len(),
            dirs: self.dirs.len(),
            data_keys,
            nodes: nodes.len(),
        }
    }
}
