//! The operating system: the user and group databases, the calling process,
//! file modes, process plumbing for the mount daemon. The only module with
//! `unsafe` and direct libc calls.

mod hygiene;
mod lock;
mod name_cache;
mod page_cache;
mod process;
mod readahead;
mod signals;
mod syslog;
mod users;
mod writeback;
mod xattr;

pub use hygiene::{
    disable_core_dumps, is_dumpable, lock_memory, protect_key_memory, wipe_allocation,
};
pub use lock::{FileLock, LockKind};
pub use page_cache::{read_cached_at, will_need};
pub use process::{
    adopt_inherited_fd, effective_uid, is_busy, mount_fuse, new_session, pipe, real_ids,
    set_inheritable, set_umask, unmount, DaemonSignals, STATUS_SIGNAL,
};
pub use readahead::set_read_ahead_kib;
pub use signals::{catch_interrupts, interrupted};
pub use syslog::install_syslog_logger;
pub use writeback::write_all_at_uncached;
pub use xattr::{get_xattr, remove_xattr, set_xattr};

pub use users::{
    caller_for_process, caller_for_uid, caller_for_uid_lookup, caller_for_user_name,
    current_caller, group_id, group_name, user_groups, user_id, user_name,
};
