//! The filesystem: the only fuser user.

pub mod mount;
pub mod mountinfo;
pub mod unmount;
