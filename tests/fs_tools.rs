//! Ordinary tools on a mount: cp -a, tar, rsync, git, sqlite3 (if present) and
//! a C compiler, each checked by its own means of verification.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::mount::{pattern, MountedVolume};
use common::s;

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn run_in(dir: &Path, program: &str, args: &[&str]) -> Output {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A small tree with what archivers care about: modes, a symlink, a hard link,
/// an empty file, a nested directory, a sparse file and old times.
fn make_tree(root: &Path) {
    std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
    std::fs::write(root.join("plain.txt"), b"hello\n").unwrap();
    std::fs::write(root.join("empty"), b"").unwrap();
    std::fs::write(root.join("sub/deeper/big.bin"), pattern(200_000, 3)).unwrap();
    std::os::unix::fs::symlink("plain.txt", root.join("link")).unwrap();
    std::fs::hard_link(root.join("plain.txt"), root.join("sub/hard")).unwrap();
    run_in(root, "chmod", &["0750", "sub"]);
    run_in(root, "chmod", &["0600", "empty"]);
    run_in(root, "truncate", &["-s", "1M", "sparse"]);
    run_in(
        root,
        "touch",
        &["-h", "-d", "2001-02-03 04:05:06", "link", "plain.txt"],
    );
}

/// `diff -r` plus modes, link targets and modification times (to the
/// nanosecond, or to the second for tar, whose archives keep no more).
fn assert_same_tree(a: &Path, b: &Path, nanoseconds: bool) {
    let time = if nanoseconds {
        "%TY-%Tm-%Td %TH:%TM:%TS"
    } else {
        "%Ts"
    };
    let out = Command::new("diff")
        .arg("-r")
        .arg("--no-dereference")
        .arg(a)
        .arg(b)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "diff -r: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let listing = |root: &Path| {
        let out = Command::new("find")
            .arg(".")
            .arg("-printf")
            .arg(format!("%p %M %s %l {time}\n"))
            .current_dir(root)
            .output()
            .unwrap();
        let mut lines: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with(". "))
            // Directory sizes and times differ between filesystems.
            .map(|l| {
                if l.contains(" d") {
                    l.split(' ').take(2).collect::<Vec<_>>().join(" ")
                } else {
                    l.to_string()
                }
            })
            .collect();
        lines.sort();
        lines
    };
    assert_eq!(listing(a), listing(b));
}

#[test]
fn cp_a_tar_and_rsync_copy_trees_in_and_out_exactly() {
    let Some(vol) = MountedVolume::new("cp_a_tar_and_rsync_copy_trees_in_and_out_exactly") else {
        return;
    };
    let src = vol.sandbox.path("tree");
    make_tree(&src);

    // cp -a in and out.
    run_in(
        vol.sandbox.dir.path(),
        "cp",
        &["-a", s(&src), s(&vol.path("cp"))],
    );
    assert_same_tree(&src, &vol.path("cp"), true);
    let back = vol.sandbox.path("cp-back");
    run_in(
        vol.sandbox.dir.path(),
        "cp",
        &["-a", s(&vol.path("cp")), s(&back)],
    );
    assert_same_tree(&src, &back, true);

    // tar in, then compare the archive against the mount with tar itself.
    let archive = vol.sandbox.path("tree.tar");
    run_in(&src, "tar", &["-cf", s(&archive), "."]);
    std::fs::create_dir(vol.path("tar")).unwrap();
    run_in(&vol.path("tar"), "tar", &["-xpf", s(&archive)]);
    run_in(&vol.path("tar"), "tar", &["--compare", "-f", s(&archive)]);
    assert_same_tree(&src, &vol.path("tar"), false);

    // rsync -a in, then a checksumming dry run finds nothing to do.
    assert!(
        have("rsync"),
        "rsync is missing: apt-get install rsync (.ci/run does)"
    );
    let dest = format!("{}/", s(&vol.path("rsync")));
    run_in(
        vol.sandbox.dir.path(),
        "rsync",
        &["-aH", &format!("{}/", s(&src)), &dest],
    );
    assert_same_tree(&src, &vol.path("rsync"), true);
    let dry = run_in(
        vol.sandbox.dir.path(),
        "rsync",
        &[
            "-aHn",
            "--checksum",
            "--itemize-changes",
            &format!("{}/", s(&src)),
            &dest,
        ],
    );
    assert!(
        dry.stdout.is_empty(),
        "rsync would still change: {}",
        String::from_utf8_lossy(&dry.stdout)
    );
    // And a change is seen (the dry run can fail).
    std::fs::write(vol.path("rsync/plain.txt"), b"changed\n").unwrap();
    let dry = run_in(
        vol.sandbox.dir.path(),
        "rsync",
        &[
            "-aHn",
            "--checksum",
            "--itemize-changes",
            &format!("{}/", s(&src)),
            &dest,
        ],
    );
    assert!(String::from_utf8_lossy(&dry.stdout).contains("plain.txt"));
}

#[test]
fn git_works_in_a_mounted_repository() {
    let Some(vol) = MountedVolume::new("git_works_in_a_mounted_repository") else {
        return;
    };
    let repo = vol.path("repo");
    std::fs::create_dir(&repo).unwrap();
    let git = |args: &[&str]| run_in(&repo, "git", args);
    git(&["init", "-q", "-b", "main"]);
    git(&["config", "user.email", "t@example.com"]);
    git(&["config", "user.name", "Test"]);
    make_tree(&repo.join("tree"));
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "first"]);
    std::fs::write(repo.join("tree/plain.txt"), b"second version\n").unwrap();
    git(&["commit", "-q", "-am", "second"]);
    let log = git(&["log", "--oneline"]);
    assert_eq!(String::from_utf8_lossy(&log.stdout).lines().count(), 2);
    let status = git(&["status", "--porcelain"]);
    assert!(
        status.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&status.stdout)
    );
    git(&["fsck", "--strict", "--no-progress"]);
    git(&["gc", "-q"]);
    git(&["fsck", "--strict", "--no-progress"]);
    let shown = git(&["show", "HEAD~1:tree/plain.txt"]);
    assert_eq!(shown.stdout, b"hello\n");
}

#[test]
fn sqlite3_keeps_a_consistent_database_on_the_mount() {
    let Some(mut vol) = MountedVolume::new("sqlite3_keeps_a_consistent_database_on_the_mount")
    else {
        return;
    };
    if !have("sqlite3") {
        eprintln!("skipping the sqlite3 part: sqlite3 is not installed");
        return;
    }
    let db = vol.path("data.db");
    let sql = |statements: &str| run_in(&vol.mnt, "sqlite3", &[s(&db), statements]);
    sql("PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);");
    sql(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 5000) \
         INSERT INTO t(v) SELECT hex(randomblob(64)) FROM n;",
    );
    sql("UPDATE t SET v = 'x' WHERE id % 7 = 0; DELETE FROM t WHERE id % 11 = 0; VACUUM;");
    let count = |vol: &MountedVolume| {
        let out = run_in(
            &vol.mnt,
            "sqlite3",
            &[s(&db), "PRAGMA integrity_check; SELECT count(*) FROM t;"],
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(count(&vol), "ok\n4546\n");
    vol.remount();
    assert_eq!(count(&vol), "ok\n4546\n");
}

#[test]
fn a_c_program_compiles_links_and_runs_from_the_mount() {
    let Some(vol) = MountedVolume::new("a_c_program_compiles_links_and_runs_from_the_mount") else {
        return;
    };
    let dir = vol.path("src");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("add.h"), "int add(int a, int b);\n").unwrap();
    std::fs::write(
        dir.join("add.c"),
        "#include \"add.h\"\nint add(int a, int b) { return a + b; }\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("main.c"),
        "#include <stdio.h>\n#include \"add.h\"\nint main(void) { printf(\"%d\\n\", add(40, 2)); return 0; }\n",
    )
    .unwrap();
    run_in(&dir, "cc", &["-c", "-o", "add.o", "add.c"]);
    run_in(&dir, "cc", &["-c", "-o", "main.o", "main.c"]);
    run_in(&dir, "cc", &["-o", "prog", "main.o", "add.o"]);
    let out = run_in(&dir, s(&dir.join("prog")), &[]);
    assert_eq!(out.stdout, b"42\n");
}
