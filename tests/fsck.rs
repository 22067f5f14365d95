//! `kmsfs fsck` through the real binary on a volume built through a real
//! mount: clean (exit 0), and each kind of damage on a copy of it (exit 1,
//! the damaged object named by its plaintext path, or by its backing path
//! when its own name is what is damaged). Each damaged file is checked with
//! one Decrypt record of its own.

mod common;

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use kmsfs::format::object::FIXED_LEN;
use serde_json::Value;

use common::mount::{pattern, MountedVolume};
use common::s;

/// The tree: /top.bin (3 chunks and a bit), /dir/inner.txt, /dir/link -> ../top.bin.
fn build(test: &str) -> Option<MountedVolume> {
    let mut volume = MountedVolume::new(test)?;
    std::fs::write(volume.path("top.bin"), pattern(3 * 32 * 1024 + 100, 1)).unwrap();
    std::fs::create_dir(volume.path("dir")).unwrap();
    std::fs::write(volume.path("dir/inner.txt"), b"inner content\n").unwrap();
    std::os::unix::fs::symlink("../top.bin", volume.path("dir/link")).unwrap();
    volume.unmount();
    Some(volume)
}

/// The volume's entries in backing directory `dir` that are not kmsfs's own.
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            !p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("kmsfs.")
        })
        .collect();
    out.sort();
    out
}

/// The one entry of `dir` whose type matches `want`.
fn only(dir: &Path, want: fn(&std::fs::Metadata) -> bool) -> PathBuf {
    let found: Vec<PathBuf> = entries(dir)
        .into_iter()
        .filter(|p| want(&p.symlink_metadata().unwrap()))
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found.into_iter().next().unwrap()
}

struct Backing {
    root: PathBuf,
    top: PathBuf,
    dir: PathBuf,
    inner: PathBuf,
    link: PathBuf,
}

/// A copy of the volume's backing directory, and where its objects lie.
fn copy(volume: &MountedVolume, name: &str) -> Backing {
    let root = volume.sandbox.path(name);
    let status = Command::new("cp")
        .args(["-a", s(&volume.backing), s(&root)])
        .status()
        .unwrap();
    assert!(status.success());
    let top = only(&root, |m| m.is_file());
    let dir = only(&root, |m| m.is_dir());
    let inner = only(&dir, |m| m.is_file());
    let link = only(&dir, |m| m.is_symlink());
    Backing {
        root,
        top,
        dir,
        inner,
        link,
    }
}

/// `kmsfs --output json fsck BACKING`: its exit code and report.
fn fsck(volume: &MountedVolume, backing: &Path) -> (i32, Value) {
    let out = volume
        .sandbox
        .run(&["--output", "json", "fsck", s(backing)]);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "fsck printed no report ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), report)
}

/// Runs fsck on a damaged copy and expects exactly one damaged object: `path`, of `kind`.
fn expect_damage(volume: &MountedVolume, backing: &Path, path: &str, kind: &str) {
    let (code, report) = fsck(volume, backing);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["Clean"], false);
    let damage = report["Damage"].as_array().unwrap();
    assert_eq!(damage.len(), 1, "{report:#}");
    assert_eq!(damage[0]["Path"], path, "{report:#}");
    assert_eq!(damage[0]["Kind"], kind, "{report:#}");
}

fn flip_byte(path: &Path, offset: u64) {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, offset).unwrap();
    file.write_all_at(&[byte[0] ^ 0x01], offset).unwrap();
}

#[test]
fn fsck_clean_volume_and_each_kind_of_damage() {
    let Some(volume) = build("fsck_clean_volume_and_each_kind_of_damage") else {
        return;
    };
    let before = volume.records().len();
    let (code, report) = fsck(&volume, &volume.backing);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["Clean"], true);
    assert_eq!(report["Files"], 2);
    assert_eq!(report["Directories"], 2);
    assert_eq!(report["Symlinks"], 1);
    assert_eq!(report["BytesChecked"], 3 * 32 * 1024 + 100 + 14);
    // The name key's Decrypt, then one Decrypt per file, naming it.
    let new: Vec<Value> = volume.records().split_off(before);
    let mut paths: Vec<&str> = new
        .iter()
        .filter(|r| r["eventName"] == "Decrypt")
        .filter_map(|r| r["requestParameters"]["encryptionContext"]["kmsfs:path"].as_str())
        .collect();
    paths.sort();
    assert_eq!(paths, ["/dir/inner.txt", "/top.bin"]);

    // A flipped byte in the last chunk.
    let b = copy(&volume, "chunk");
    let len = b.top.metadata().unwrap().len();
    flip_byte(&b.top, len - 1);
    expect_damage(&volume, &b.root, "/top.bin", "chunk");

    // A header whose magic is broken.
    let b = copy(&volume, "header");
    flip_byte(&b.inner, 0);
    expect_damage(&volume, &b.root, "/dir/inner.txt", "header");

    // The wrapped data key of another file: the blob authenticates its own file id only.
    let b = copy(&volume, "key");
    let top = std::fs::read(&b.top).unwrap();
    let inner = std::fs::OpenOptions::new()
        .write(true)
        .open(&b.inner)
        .unwrap();
    let blob_len = usize::from(u16::from_be_bytes([top[FIXED_LEN - 2], top[FIXED_LEN - 1]]));
    inner
        .write_all_at(&top[FIXED_LEN..FIXED_LEN + blob_len], FIXED_LEN as u64)
        .unwrap();
    expect_damage(&volume, &b.root, "/dir/inner.txt", "data-key");

    // An encrypted name with one character changed: named by its backing path.
    let b = copy(&volume, "name");
    let name = b.inner.file_name().unwrap().to_str().unwrap().to_string();
    let changed: String = name
        .char_indices()
        .map(|(i, c)| {
            if i == 3 {
                if c == 'A' {
                    'B'
                } else {
                    'A'
                }
            } else {
                c
            }
        })
        .collect();
    let renamed = b.dir.join(changed);
    std::fs::rename(&b.inner, &renamed).unwrap();
    expect_damage(&volume, &b.root, s(&renamed), "name");

    // A symlink whose encrypted target has one character changed.
    let b = copy(&volume, "link");
    let target = std::fs::read_link(&b.link).unwrap();
    let target = target.to_str().unwrap();
    let changed = format!(
        "{}{}",
        if target.starts_with('A') { "B" } else { "A" },
        &target[1..]
    );
    std::fs::remove_file(&b.link).unwrap();
    std::os::unix::fs::symlink(changed, &b.link).unwrap();
    expect_damage(&volume, &b.root, "/dir/link", "symlink-target");

    // A deleted directory id: the directory is named; its entries cannot be named.
    let b = copy(&volume, "dirid");
    std::fs::remove_file(b.dir.join("kmsfs.dirid")).unwrap();
    let (code, report) = fsck(&volume, &b.root);
    assert_eq!(code, 1, "{report:#}");
    let damage = report["Damage"].as_array().unwrap();
    assert_eq!(damage.len(), 1, "{report:#}");
    assert_eq!(damage[0]["Path"], "/dir");
    assert_eq!(damage[0]["Kind"], "directory-id");

    // A directory whose copy of its id in the attribute differs from its id
    // file (the filesystem reads the attribute): the directory is named.
    let b = copy(&volume, "dirid-attribute");
    let mut id = [0u8; 16];
    let len = rustix::fs::getxattr(&b.dir, "user.kmsfs.dirid", &mut id)
        .expect("mkdir through the mount gave the backing directory its id attribute");
    assert_eq!(len, 16);
    assert_eq!(std::fs::read(b.dir.join("kmsfs.dirid")).unwrap(), id);
    id[0] ^= 1;
    rustix::fs::setxattr(
        &b.dir,
        "user.kmsfs.dirid",
        &id,
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    let (code, report) = fsck(&volume, &b.root);
    assert_eq!(code, 1, "{report:#}");
    let damage = report["Damage"].as_array().unwrap();
    assert_eq!(damage.len(), 1, "{report:#}");
    assert_eq!(damage[0]["Path"], "/dir");
    assert_eq!(damage[0]["Kind"], "directory-id");

    // A config whose bound chunk size was edited: its name key no longer unwraps.
    let b = copy(&volume, "config");
    let config = b.root.join("kmsfs.volume");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("\"chunkSize\": 4096"), "{text}");
    std::fs::write(
        &config,
        text.replace("\"chunkSize\": 4096", "\"chunkSize\": 65536"),
    )
    .unwrap();
    expect_damage(&volume, &b.root, s(&config), "config");

    // Each damaged copy left the original clean.
    assert_eq!(fsck(&volume, &volume.backing).0, 0);
}

#[test]
fn fsck_text_output_and_could_not_run() {
    let Some(volume) = build("fsck_text_output_and_could_not_run") else {
        return;
    };
    let out = volume.sandbox.run(&["fsck", s(&volume.backing)]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("2 files, 1 symlinks") && text.ends_with("clean\n"),
        "{text}"
    );

    let b = copy(&volume, "damaged");
    flip_byte(&b.top, 200);
    let out = volume.sandbox.run(&["fsck", s(&b.root)]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("damaged /top.bin (chunk)"), "{text}");

    // Not a volume, and a disabled key: the check cannot run (2).
    let out = volume
        .sandbox
        .run(&["fsck", s(&volume.sandbox.path("mnt"))]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    volume
        .sandbox
        .ok(&["key", "disable", "--key-id", common::mount::KEY]);
    let out = volume.sandbox.run(&["fsck", s(&volume.backing)]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("Disabled"));
}
