//! The audit log's file locks come from `sys` (the only libc user).

pub(super) use crate::sys::{FileLock, LockKind};
