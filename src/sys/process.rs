//! Process-wide settings.

/// Sets the process umask and returns the previous one. The umask is per
/// process: every thread's new files get it.
pub fn set_umask(mask: u32) -> u32 {
    // SAFETY: umask(2) only swaps an integer in the process; it cannot fail.
    unsafe { libc::umask(mask as libc::mode_t) as u32 }
}
