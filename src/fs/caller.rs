//! Who makes a filesystem request: the uid, gid and pid the kernel gives with
//! it, resolved into a [`Caller`] (groups, command and executable from /proc)
//! only when a request needs one (the KMS requests of open, create, truncate,
//! and the record of an integrity failure). Must not import fuser.

use crate::model::Caller;
use crate::sys;

/// The ids the kernel sends with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requester {
    pub uid: u32,
    pub gid: u32,
    /// 0 when the kernel makes the request itself.
    pub pid: u32,
}

impl Requester {
    /// The identity to authorize and audit: the process's supplementary
    /// groups, command and executable, with the uid and gid of the request
    /// (the filesystem ids the kernel checked, which may differ from the
    /// process's real ones). Without a live process, the ids alone.
    pub fn caller(&self) -> Caller {
        let process = match self.pid {
            0 => None,
            pid => sys::caller_for_process(pid),
        };
        let Some(mut caller) = process else {
            return sys::caller_for_uid(self.uid, self.gid, Vec::new());
        };
        if caller.uid != self.uid || caller.gid != self.gid {
            let named = sys::caller_for_uid(self.uid, self.gid, caller.groups.clone());
            caller.uid = named.uid;
            caller.gid = named.gid;
            caller.user_name = named.user_name;
            caller.group_names = named.group_names;
        }
        caller
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_process_gives_its_command_and_the_requests_ids() {
        let me = Requester {
            uid: 4321,
            gid: 4322,
            pid: std::process::id(),
        };
        let caller = me.caller();
        assert_eq!((caller.uid, caller.gid), (4321, 4322));
        assert_eq!(caller.pid, Some(std::process::id()));
        assert!(caller.comm.is_some() && caller.exe.is_some());
        // No user has these ids, so neither is named.
        assert_eq!(caller.user_name, None);
    }

    #[test]
    fn without_a_process_only_the_ids_are_known() {
        let kernel = Requester {
            uid: 0,
            gid: 0,
            pid: 0,
        };
        let caller = kernel.caller();
        assert_eq!((caller.uid, caller.pid, caller.comm), (0, None, None));
        assert_eq!(caller.user_name.as_deref(), Some("root"));
        let gone = Requester {
            uid: 0,
            gid: 0,
            pid: u32::MAX,
        };
        assert_eq!(gone.caller().pid, None);
    }
}
