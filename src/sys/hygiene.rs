//! Keeping key material out of places it could leak from while the mount
//! daemon runs: no core dumps (which would hold every unwrapped data key), and
//! memory locked so that keys are not written to swap.

use std::io;

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Makes this process non-dumpable (`PR_SET_DUMPABLE` 0): it writes no core
/// file, and processes of the same user without `CAP_SYS_PTRACE` cannot
/// attach to it or read its memory through `/proc`.
pub fn disable_core_dumps() -> io::Result<()> {
    // SAFETY: PR_SET_DUMPABLE takes an integer argument and touches no memory of ours.
    check(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0 as libc::c_ulong, 0, 0, 0) })
}

/// Whether this process may dump core (`PR_GET_DUMPABLE`).
pub fn is_dumpable() -> io::Result<bool> {
    // SAFETY: PR_GET_DUMPABLE reads a flag of the process and touches no memory of ours.
    let rc = unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc != 0)
}

/// Locks every page of the process in memory, now and as it grows, so that
/// keys are never swapped out. `MCL_ONFAULT` locks pages as they are first
/// touched rather than faulting in every thread stack at once. An
/// unprivileged process whose `RLIMIT_MEMLOCK` is finite is refused here
/// rather than left to fail allocations later, once it has grown past the limit.
pub fn lock_memory() -> io::Result<()> {
    if !may_lock_unbounded()? {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "RLIMIT_MEMLOCK is finite and the process is not root",
        ));
    }
    // SAFETY: mlockall takes flags only.
    check(unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE | libc::MCL_ONFAULT) })
}

/// Root (CAP_IPC_LOCK) is not bound by RLIMIT_MEMLOCK; anyone else only with
/// an infinite limit.
fn may_lock_unbounded() -> io::Result<bool> {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        return Ok(true);
    }
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: limit is a valid rlimit for getrlimit to fill.
    check(unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) })?;
    Ok(limit.rlim_cur == libc::RLIM_INFINITY)
}

/// Both of the above, as the mount daemon wants them at its start; each
/// refusal is logged as a warning and the daemon goes on.
pub fn protect_key_memory() {
    if let Err(e) = disable_core_dumps() {
        log::warn!("core dumps stay enabled ({e}): a crash could write keys to disk");
    }
    if let Err(e) = lock_memory() {
        log::warn!("memory is not locked ({e}): keys may be written to swap");
    }
}

/// Zeros every byte of the allocation of `bytes`, its spare capacity
/// included, with explicit_bzero(3): a vectorized memset the compiler may not
/// remove (zeroize's byte-at-a-time volatile stores cost about 0.3 ms per
/// mebibyte, which file plaintext buffers pay on every read and write).
pub fn wipe_allocation(bytes: &mut Vec<u8>) {
    // SAFETY: the pointer and the capacity describe the vector's own
    // allocation, which the `&mut` lets nothing else use meanwhile.
    unsafe { libc::explicit_bzero(bytes.as_mut_ptr().cast(), bytes.capacity()) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Runs `test` of this module in a child test process (the settings are
    /// process-wide and must not leak into the other tests) and returns its
    /// standard output.
    fn in_child(test: &str) -> String {
        let out = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
                test,
            ])
            .output()
            .expect("run the child test");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    #[ignore = "child process of protecting_key_memory_makes_the_process_non_dumpable"]
    fn child_reports_dumpable_before_and_after() {
        let before = is_dumpable().expect("get");
        protect_key_memory();
        println!(
            "dumpable before={before} after={}",
            is_dumpable().expect("get")
        );
        let status = std::fs::read_to_string("/proc/self/status").expect("status");
        let locked = status
            .lines()
            .find(|l| l.starts_with("VmLck:"))
            .expect("VmLck");
        println!("{locked}");
    }

    #[test]
    fn protecting_key_memory_makes_the_process_non_dumpable() {
        let out = in_child("sys::hygiene::tests::child_reports_dumpable_before_and_after");
        assert!(out.contains("dumpable before=true after=false"), "{out}");
        // This process was left alone.
        assert!(is_dumpable().expect("get"));
        // Root may lock memory: some pages are locked. (Others get a warning.)
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            assert!(!out.contains("VmLck:\t       0 kB"), "{out}");
            assert!(out.contains("VmLck:"), "{out}");
        }
    }

    #[test]
    fn the_wipe_zeros_the_spare_capacity_too() {
        let mut bytes = vec![0xA5u8; 64];
        bytes.truncate(10);
        wipe_allocation(&mut bytes);
        // SAFETY: u8 has no invalid values, and the wipe wrote all `capacity` bytes.
        unsafe { bytes.set_len(bytes.capacity()) };
        assert!(bytes.len() >= 64 && bytes.iter().all(|&b| b == 0));
    }
}
