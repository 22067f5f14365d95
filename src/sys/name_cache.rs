//! The names of uids and gids, kept between requests. Every open of a file
//! names its caller's user and groups (policies match them, records show
//! them), and a lookup through NSS reads and parses /etc/passwd or /etc/group
//! each time: a dozen system calls per open. Names are kept while both files
//! are unchanged (checked by one stat each per caller) and for at most
//! [`MAX_AGE`], so sources other than the files (LDAP, systemd) are asked
//! again within that time, as entries and attributes are.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long a name is kept at most, whatever the files say.
const MAX_AGE: Duration = Duration::from_secs(1);

/// The files whose change forgets every name kept.
const DATABASES: [&str; 2] = ["/etc/passwd", "/etc/group"];

/// What identifies one version of a database file: a file replaced (the usual
/// way tools edit them) or written in place changes one of these.
type Stamp = Option<(u64, u64, u64, i64, i64, i64, i64)>;

fn stamp_of(path: &str) -> Stamp {
    let meta = fs::metadata(path).ok()?;
    Some((
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec(),
    ))
}

/// The database a name is kept from.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Database {
    Users,
    Groups,
}

/// Names kept, and the versions of the files they were read from.
pub(super) struct Names {
    stamps: [Stamp; 2],
    since: Instant,
    kept: HashMap<(Database, u32), Option<String>>,
}

static NAMES: Mutex<Option<Names>> = Mutex::new(None);

/// Runs `use_names` on the names kept, forgotten first if the databases
/// changed or they are too old. They stay locked meanwhile, so a name
/// missing is looked up once, not by every thread at the same time.
pub(super) fn with_names<T>(use_names: impl FnOnce(&mut Names) -> T) -> T {
    let mut kept = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    let stamps = DATABASES.map(stamp_of);
    let fresh = kept
        .as_ref()
        .is_some_and(|names| names.stamps == stamps && names.since.elapsed() < MAX_AGE);
    if !fresh {
        *kept = None;
    }
    use_names(kept.get_or_insert_with(|| Names {
        stamps,
        since: Instant::now(),
        kept: HashMap::new(),
    }))
}

impl Names {
    /// The name of `id` in `database`, from `look_up` when not kept.
    pub(super) fn name(
        &mut self,
        database: Database,
        id: u32,
        look_up: impl FnOnce(u32) -> Option<String>,
    ) -> Option<String> {
        let name = self.kept.entry((database, id));
        name.or_insert_with(|| look_up(id)).clone()
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use crate::sys::caller_for_uid;

    fn run(program: &str, args: &[&str]) {
        let status = Command::new(program).args(args).status().unwrap();
        assert!(status.success(), "{program} {args:?} failed");
    }

    /// A group added, renamed or removed in /etc/group is named so by the
    /// next lookup, however recently its gid was looked up.
    #[test]
    fn a_group_changed_in_the_database_is_named_anew_at_once() {
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: changing /etc/group needs root");
            return;
        }
        let gid = 47_000 + std::process::id() % 1000;
        let (first, second) = (format!("kmsfs-t{gid}"), format!("kmsfs-u{gid}"));
        let names = || caller_for_uid(0, 0, vec![gid]).group_names;
        assert!(!names().contains(&first));
        run("groupadd", &["-g", &gid.to_string(), &first]);
        let added = names();
        run("groupmod", &["-n", &second, &first]);
        let renamed = names();
        run("groupdel", &[&second]);
        let removed = names();
        assert!(added.contains(&first), "{added:?}");
        assert!(
            renamed.contains(&second) && !renamed.contains(&first),
            "{renamed:?}"
        );
        assert!(!removed.contains(&second), "{removed:?}");
    }
}
