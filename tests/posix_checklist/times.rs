//! Checklist row "timestamps updated by each call": which of atime, mtime and
//! ctime each call moves, on the file and on the directories whose entries it
//! changes; explicit times read back to the nanosecond; atime follows the
//! backing filesystem's policy (relatime on the machines tested).

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::fs::{AtFlags, Timespec, Timestamps, CWD};

use super::common::mount::MountedVolume;
use super::meta;

/// atime, mtime and ctime in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Times {
    a: i128,
    m: i128,
    c: i128,
}

fn times(path: &Path) -> Times {
    let m = meta(path);
    let ns = |s: i64, n: i64| s as i128 * 1_000_000_000 + n as i128;
    Times {
        a: ns(m.atime(), m.atime_nsec()),
        m: ns(m.mtime(), m.mtime_nsec()),
        c: ns(m.ctime(), m.ctime_nsec()),
    }
}

/// Runs `op` a little after now, then checks, for each `(path, moved)`, that
/// exactly the times named in `moved` ("m", "c", "a" letters) increased and
/// the others did not change; letters after a `~` may move or not (atime on a
/// write: kmsfs reads the backing object to re-seal a partial chunk, which is
/// an access under the backing filesystem's relatime).
fn check(what: &str, watched: &[(PathBuf, &str)], op: impl FnOnce()) {
    let before: Vec<Times> = watched.iter().map(|(path, _)| times(path)).collect();
    // Coarse timestamp clocks tick every few milliseconds.
    std::thread::sleep(Duration::from_millis(25));
    op();
    for ((path, moved), before) in watched.iter().zip(before) {
        let after = times(path);
        for (letter, old, new) in [
            ("a", before.a, after.a),
            ("m", before.m, after.m),
            ("c", before.c, after.c),
        ] {
            let (must, free) = moved.split_once('~').unwrap_or((moved, ""));
            if must.contains(letter) {
                assert!(
                    new > old,
                    "{what}: {letter}time of {} did not move",
                    path.display()
                );
            } else if !free.contains(letter) {
                assert_eq!(new, old, "{what}: {letter}time of {} moved", path.display());
            }
        }
    }
}

#[test]
fn each_call_moves_the_times_posix_names() {
    let Some(vol) = MountedVolume::new("each_call_moves_the_times_posix_names") else {
        return;
    };
    let (dir, other) = (vol.path("dir"), vol.path("other"));
    fs::create_dir(&dir).unwrap();
    fs::create_dir(&other).unwrap();
    let file = dir.join("file");

    check("create", &[(dir.clone(), "mc")], || {
        fs::write(&file, b"first").unwrap()
    });
    check(
        "write",
        &[(file.clone(), "mc~a"), (dir.clone(), "")],
        || {
            fs::OpenOptions::new()
                .append(true)
                .open(&file)
                .and_then(|mut f| std::io::Write::write_all(&mut f, b" more"))
                .unwrap()
        },
    );
    check("truncate", &[(file.clone(), "mc~a")], || {
        fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .unwrap()
            .set_len(3)
            .unwrap()
    });
    check("chmod", &[(file.clone(), "c")], || {
        fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap()
    });
    check("chown", &[(file.clone(), "c")], || {
        std::os::unix::fs::chown(&file, Some(1), Some(1)).unwrap()
    });
    let link = other.join("link");
    check(
        "link",
        &[
            (file.clone(), "c"),
            (other.clone(), "mc"),
            (dir.clone(), ""),
        ],
        || fs::hard_link(&file, &link).unwrap(),
    );
    let moved = other.join("moved");
    check(
        "rename across directories",
        &[(dir.clone(), "mc"), (other.clone(), "mc")],
        || fs::rename(&file, &moved).unwrap(),
    );
    // The renamed file itself: ctime moves (Linux filesystems do), no other.
    let again = other.join("again");
    let before = times(&moved);
    std::thread::sleep(Duration::from_millis(25));
    fs::rename(&moved, &again).unwrap();
    let after = times(&again);
    assert!(
        after.c > before.c,
        "rename: the renamed file's ctime did not move"
    );
    assert_eq!((after.a, after.m), (before.a, before.m), "rename");
    check(
        "unlink of one of two links",
        &[(again.clone(), "c"), (other.clone(), "mc")],
        || fs::remove_file(&link).unwrap(),
    );
    check("mkdir", &[(dir.clone(), "mc")], || {
        fs::create_dir(dir.join("sub")).unwrap()
    });
    check("rmdir", &[(dir.clone(), "mc")], || {
        fs::remove_dir(dir.join("sub")).unwrap()
    });
    check("symlink", &[(dir.clone(), "mc")], || {
        std::os::unix::fs::symlink("target", dir.join("sym")).unwrap()
    });
    // Old times first: relatime moves an atime that is not after mtime.
    let past = Timestamps {
        last_access: Timespec {
            tv_sec: 946_684_800,
            tv_nsec: 1,
        },
        last_modification: Timespec {
            tv_sec: 978_307_200,
            tv_nsec: 2,
        },
    };
    rustix::fs::utimensat(CWD, &again, &past, AtFlags::empty()).unwrap();
    let set = times(&again);
    assert_eq!(
        (set.a, set.m),
        (946_684_800_000_000_001, 978_307_200_000_000_002)
    );
    check(
        "a read",
        &[(again.clone(), "a"), (other.clone(), "")],
        || {
            assert_eq!(fs::read(&again).unwrap(), b"fir");
        },
    );

    // Explicit times read back to the nanosecond, after a remount too.
    let stamp = Timestamps {
        last_access: Timespec {
            tv_sec: 1_234_567_890,
            tv_nsec: 123_456_789,
        },
        last_modification: Timespec {
            tv_sec: 1_300_000_000,
            tv_nsec: 987_654_321,
        },
    };
    rustix::fs::utimensat(CWD, &again, &stamp, AtFlags::empty()).unwrap();
    let mut vol = vol;
    vol.remount();
    let after = times(&vol.path("other/again"));
    assert_eq!(after.a, 1_234_567_890_123_456_789);
    assert_eq!(after.m, 1_300_000_000_987_654_321);
}
