//! User and group lookups (getpwnam_r & co.) and the identity of a calling process.

use std::ffi::{CStr, CString};
use std::fs;
use std::io::Read;

use super::name_cache::{self, Database};
use crate::model::Caller;

/// Runs a reentrant passwd/group lookup with a growing buffer.
fn with_buffer<T>(
    mut lookup: impl FnMut(&mut [libc::c_char]) -> Result<Option<T>, i32>,
) -> Option<T> {
    let mut size = 1024;
    loop {
        let mut buf = vec![0 as libc::c_char; size];
        match lookup(&mut buf) {
            Ok(found) => return found,
            Err(libc::ERANGE) if size < 1 << 20 => size *= 4,
            Err(_) => return None,
        }
    }
}

fn passwd_lookup(
    query: impl Fn(*mut libc::passwd, &mut [libc::c_char], *mut *mut libc::passwd) -> i32,
) -> Option<(String, u32, u32)> {
    with_buffer(|buf| {
        // SAFETY: pwd and result are valid for writes; buf outlives the call and
        // the strings read from pwd point into it.
        unsafe {
            let mut pwd: libc::passwd = std::mem::zeroed();
            let mut result: *mut libc::passwd = std::ptr::null_mut();
            let rc = query(&mut pwd, buf, &mut result);
            if rc != 0 {
                return Err(rc);
            }
            if result.is_null() {
                return Ok(None);
            }
            let name = CStr::from_ptr(pwd.pw_name).to_string_lossy().into_owned();
            Ok(Some((name, pwd.pw_uid, pwd.pw_gid)))
        }
    })
}

fn group_lookup(
    query: impl Fn(*mut libc::group, &mut [libc::c_char], *mut *mut libc::group) -> i32,
) -> Option<(String, u32)> {
    with_buffer(|buf| {
        // SAFETY: as in passwd_lookup.
        unsafe {
            let mut grp: libc::group = std::mem::zeroed();
            let mut result: *mut libc::group = std::ptr::null_mut();
            let rc = query(&mut grp, buf, &mut result);
            if rc != 0 {
                return Err(rc);
            }
            if result.is_null() {
                return Ok(None);
            }
            let name = CStr::from_ptr(grp.gr_name).to_string_lossy().into_owned();
            Ok(Some((name, grp.gr_gid)))
        }
    })
}

fn passwd_by_uid(uid: u32) -> Option<(String, u32, u32)> {
    // SAFETY: all pointers come from passwd_lookup and are valid for the call.
    passwd_lookup(|pwd, buf, result| unsafe {
        libc::getpwuid_r(uid, pwd, buf.as_mut_ptr(), buf.len(), result)
    })
}

/// The name of `uid` in the user database.
pub fn user_name(uid: u32) -> Option<String> {
    passwd_by_uid(uid).map(|(name, _, _)| name)
}

/// The uid of user `name`.
pub fn user_id(name: &str) -> Option<u32> {
    let cname = CString::new(name).ok()?;
    // SAFETY: cname outlives the call; other pointers as in passwd_lookup.
    passwd_lookup(|pwd, buf, result| unsafe {
        libc::getpwnam_r(cname.as_ptr(), pwd, buf.as_mut_ptr(), buf.len(), result)
    })
    .map(|(_, uid, _)| uid)
}

/// The name of group `gid`.
pub fn group_name(gid: u32) -> Option<String> {
    // SAFETY: as in group_lookup.
    group_lookup(|grp, buf, result| unsafe {
        libc::getgrgid_r(gid, grp, buf.as_mut_ptr(), buf.len(), result)
    })
    .map(|(name, _)| name)
}

/// The gid of group `name`.
pub fn group_id(name: &str) -> Option<u32> {
    let cname = CString::new(name).ok()?;
    // SAFETY: cname outlives the call; other pointers as in group_lookup.
    group_lookup(|grp, buf, result| unsafe {
        libc::getgrnam_r(cname.as_ptr(), grp, buf.as_mut_ptr(), buf.len(), result)
    })
    .map(|(_, gid)| gid)
}

/// The name of `uid` and those of groups `gid` and `groups` (each once, the
/// primary first), kept between calls (see [`name_cache`]).
fn names_of(uid: u32, gid: u32, groups: &[u32]) -> (Option<String>, Vec<String>) {
    name_cache::with_names(|names| {
        let user = names.name(Database::Users, uid, user_name);
        let others = groups.iter().copied().filter(|g| *g != gid);
        let groups = std::iter::once(gid)
            .chain(others)
            .filter_map(|g| names.name(Database::Groups, g, group_name))
            .collect();
        (user, groups)
    })
}

/// The identity of this process: real uid, primary gid, supplementary groups.
pub fn current_caller() -> Caller {
    // SAFETY: getuid/getgid cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let pid = std::process::id();
    let mut caller =
        caller_for_process(pid).unwrap_or_else(|| caller_for_uid(uid, gid, Vec::new()));
    caller.uid = uid;
    caller.gid = gid;
    (caller.user_name, caller.group_names) = names_of(uid, gid, &caller.groups);
    caller
}

/// The identity of `uid`/`gid` with the given supplementary groups, no process.
pub fn caller_for_uid(uid: u32, gid: u32, groups: Vec<u32>) -> Caller {
    let (user_name, group_names) = names_of(uid, gid, &groups);
    Caller {
        uid,
        user_name,
        gid,
        group_names,
        groups,
        pid: None,
        comm: None,
        exe: None,
    }
}

/// The identity of process `pid` from /proc: real uid and gid, supplementary groups,
/// command name and executable. `None` if the process is gone.
pub fn caller_for_process(pid: u32) -> Option<Caller> {
    let status = read_proc_file(&format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name).map(|rest| rest.trim().to_string()))
    };
    let first_number =
        |value: Option<String>| -> Option<u32> { value?.split_whitespace().next()?.parse().ok() };
    let uid = first_number(field("Uid:"))?;
    let gid = first_number(field("Gid:"))?;
    let groups: Vec<u32> = field("Groups:")
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|g| g.parse().ok())
        .collect();
    let comm = read_proc_file(&format!("/proc/{pid}/comm")).map(|c| c.trim_end().to_string());
    let exe = fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned());
    let mut caller = caller_for_uid(uid, gid, groups);
    caller.pid = Some(pid);
    caller.comm = comm;
    caller.exe = exe;
    Some(caller)
}

/// A /proc text file, read whole with as few system calls as it takes: no
/// stat for a size hint (such files report 0) and no read to find the end,
/// since a /proc file answers a read short only at its end (seq_file fills
/// the buffer it is given). Bytes that are not UTF-8 (a command may have
/// any name) are replaced, not taken for a process that is gone.
fn read_proc_file(path: &str) -> Option<String> {
    let mut file = fs::File::open(path).ok()?;
    let mut text = vec![0u8; 4096];
    let mut len = 0;
    loop {
        match file.read(&mut text[len..]) {
            Ok(0) => break,
            Ok(n) => {
                len += n;
                if len < text.len() {
                    break;
                }
                text.resize(text.len() * 2, 0);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    text.truncate(len);
    Some(String::from_utf8_lossy(&text).into_owned())
}

/// The supplementary groups of user `name` whose primary group is `gid` (getgrouplist(3)).
pub fn user_groups(name: &str, gid: u32) -> Vec<u32> {
    let Ok(cname) = CString::new(name) else {
        return vec![gid];
    };
    let mut count: libc::c_int = 64;
    loop {
        let mut groups = vec![0 as libc::gid_t; count as usize];
        let capacity = count;
        // SAFETY: groups has room for `count` entries; getgrouplist writes at most
        // that many and stores the real number in count.
        let rc =
            unsafe { libc::getgrouplist(cname.as_ptr(), gid, groups.as_mut_ptr(), &mut count) };
        if rc >= 0 {
            groups.truncate(count as usize);
            return groups;
        }
        if count <= capacity {
            count = capacity * 2;
        }
        if count > 65536 {
            return vec![gid];
        }
    }
}

/// The identity user `name` would have when logged in: uid, primary group and
/// supplementary groups from the databases. `None` if there is no such user.
pub fn caller_for_user_name(name: &str) -> Option<Caller> {
    let cname = CString::new(name).ok()?;
    // SAFETY: cname outlives the call; other pointers as in passwd_lookup.
    let (name, uid, gid) = passwd_lookup(|pwd, buf, result| unsafe {
        libc::getpwnam_r(cname.as_ptr(), pwd, buf.as_mut_ptr(), buf.len(), result)
    })?;
    Some(caller_for_uid(uid, gid, user_groups(&name, gid)))
}

/// As [`caller_for_user_name`], for a uid; a uid without a user gets its uid as gid.
pub fn caller_for_uid_lookup(uid: u32) -> Caller {
    match passwd_by_uid(uid) {
        Some((name, uid, gid)) => caller_for_uid(uid, gid, user_groups(&name, gid)),
        None => caller_for_uid(uid, uid, Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_resolves_both_ways() {
        assert_eq!(user_name(0).as_deref(), Some("root"));
        assert_eq!(user_id("root"), Some(0));
        assert_eq!(group_name(0).as_deref(), Some("root"));
        assert_eq!(group_id("root"), Some(0));
        assert_eq!(user_id("no-such-user-kmsfs"), None);
    }

    #[test]
    fn this_process_is_described_from_proc() {
        let me = current_caller();
        assert_eq!(me.pid, Some(std::process::id()));
        assert!(me.exe.is_some());
        assert!(me.comm.is_some());
        // SAFETY: getuid cannot fail.
        assert_eq!(me.uid, unsafe { libc::getuid() });
    }
}
