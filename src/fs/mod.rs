//! The filesystem: the only fuser user.

pub mod daemon;
pub mod mount;
pub mod mountinfo;
pub mod unmount;
