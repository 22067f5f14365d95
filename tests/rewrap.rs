//! `kmsfs volume rewrap` through the real binary on volumes of a few hundred
//! files written through a real mount: to the key's new material version
//! while mounted, to another key (after which the first key can be disabled),
//! a dry run that changes nothing, and a rewrap killed halfway then rerun.
//! Every file reads back through a mount after each.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kmsfs::format::blob::CiphertextBlob;
use kmsfs::format::object::ObjectHeader;
use kmsfs::model::KeyId;
use serde_json::Value;

use common::mount::{pattern, MountedVolume, KEY};
use common::s;

const SECOND_KEY: &str = "alias/second";

fn content(i: usize) -> Vec<u8> {
    pattern(100 + 37 * i, i as u64)
}

fn name(i: usize) -> String {
    format!("d{}/file-{i}.bin", i % 5)
}

/// A mounted volume of `count` files in five directories.
fn populated(test: &str, count: usize) -> Option<MountedVolume> {
    let volume = MountedVolume::new(test)?;
    for d in 0..5 {
        std::fs::create_dir(volume.path(&format!("d{d}"))).unwrap();
    }
    for i in 0..count {
        std::fs::write(volume.path(&name(i)), content(i)).unwrap();
    }
    Some(volume)
}

fn assert_every_file_reads(volume: &MountedVolume, count: usize) {
    for i in 0..count {
        let read =
            std::fs::read(volume.path(&name(i))).unwrap_or_else(|e| panic!("{}: {e}", name(i)));
        assert!(read == content(i), "{}: wrong content", name(i));
    }
}

/// Every object under `dir` in the backing directory.
fn objects(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("kmsfs.")
        {
            continue;
        }
        if path.is_dir() {
            out.extend(objects(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// (key id, material version) wrapping each object's data key.
fn wraps(backing: &Path) -> Vec<(KeyId, u32)> {
    objects(backing)
        .iter()
        .map(|path| {
            let (header, _) = ObjectHeader::read(&std::fs::read(path).unwrap()).unwrap();
            let blob = CiphertextBlob::read(&header.wrapped_dek).unwrap();
            (blob.key_id, blob.material_version)
        })
        .collect()
}

fn key_id(volume: &MountedVolume, key: &str) -> KeyId {
    let described = volume.sandbox.json(&["key", "describe", "--key-id", key]);
    described["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

fn rewrap(volume: &MountedVolume, extra: &[&str]) -> Value {
    let mut args = vec!["volume", "rewrap", s(&volume.backing)];
    args.extend_from_slice(extra);
    volume.sandbox.json(&args)["Rewrap"].clone()
}

fn re_encrypt_paths(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .filter(|r| r["eventName"] == "ReEncrypt")
        .filter_map(|r| {
            r["requestParameters"]["sourceEncryptionContext"]["kmsfs:path"]
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

#[test]
fn rewrap_to_new_material_then_to_another_key() {
    const COUNT: usize = 300;
    let Some(mut volume) = populated("rewrap_to_new_material_then_to_another_key", COUNT) else {
        return;
    };
    let first = key_id(&volume, KEY);
    assert!(wraps(&volume.backing).iter().all(|w| *w == (first, 1)));

    // A dry run counts and changes nothing.
    volume.sandbox.ok(&["key", "rotate", "--key-id", KEY]);
    let before: Vec<Vec<u8>> = objects(&volume.backing)
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    let dry = rewrap(&volume, &["--dry-run"]);
    assert_eq!(dry["Rewrapped"], COUNT);
    assert_eq!(dry["ConfigRewrapped"], true);
    let after: Vec<Vec<u8>> = objects(&volume.backing)
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert!(before == after, "a dry run changed objects");

    // To the new material version, while mounted: one ReEncrypt per file, naming it.
    let seen = volume.records().len();
    let done = rewrap(&volume, &[]);
    assert_eq!(
        (done["Files"].as_u64(), done["Rewrapped"].as_u64()),
        (Some(COUNT as u64), Some(COUNT as u64))
    );
    assert!(wraps(&volume.backing).iter().all(|w| *w == (first, 2)));
    let mut paths = re_encrypt_paths(&volume.records()[seen..]);
    paths.sort();
    let mut expected: Vec<String> = (0..COUNT).map(|i| format!("/{}", name(i))).collect();
    expected.sort();
    assert_eq!(paths, expected);
    assert_every_file_reads(&volume, COUNT);
    // A second run has nothing to do.
    let again = rewrap(&volume, &[]);
    assert_eq!(
        (
            again["Rewrapped"].as_u64(),
            again["AlreadyCurrent"].as_u64()
        ),
        (Some(0), Some(COUNT as u64))
    );

    // To another key, which becomes the volume's key.
    volume.sandbox.ok(&["key", "create", "--alias", SECOND_KEY]);
    let second = key_id(&volume, SECOND_KEY);
    volume.unmount();
    let moved = rewrap(&volume, &["--key-id", SECOND_KEY]);
    assert_eq!(moved["Rewrapped"], COUNT);
    assert!(wraps(&volume.backing).iter().all(|w| *w == (second, 1)));
    let info = volume.sandbox.json(&["volume", "info", s(&volume.backing)]);
    assert_eq!(info["Volume"]["KeyId"], second.to_string());

    // The first key is unused: disabled, every file still reads, and a new file is under the second key.
    volume.sandbox.ok(&["key", "disable", "--key-id", KEY]);
    volume.mount();
    assert_every_file_reads(&volume, COUNT);
    std::fs::write(volume.path("new.bin"), b"new").unwrap();
    assert!(wraps(&volume.backing).iter().all(|w| w.0 == second));
    // Its partner: a rewrap back to the disabled key is refused, and changes nothing.
    volume.unmount();
    let out = volume
        .sandbox
        .run(&["volume", "rewrap", s(&volume.backing), "--key-id", KEY]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("DisabledException"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(wraps(&volume.backing).iter().all(|w| w.0 == second));
}

/// Waits until the audit log holds `count` ReEncrypt records.
fn wait_for_re_encrypts(volume: &MountedVolume, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let text = std::fs::read_to_string(volume.sandbox.audit_log()).unwrap_or_default();
        if text.matches("\"eventName\":\"ReEncrypt\"").count() >= count {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    panic!("the rewrap did not reach {count} files");
}

#[test]
fn rewrap_killed_halfway_then_rerun() {
    const COUNT: usize = 400;
    let Some(mut volume) = populated("rewrap_killed_halfway_then_rerun", COUNT) else {
        return;
    };
    volume.sandbox.ok(&["key", "create", "--alias", SECOND_KEY]);
    let second = key_id(&volume, SECOND_KEY);
    volume.unmount();
    let mut child = volume
        .sandbox
        .command()
        .args([
            "volume",
            "rewrap",
            s(&volume.backing),
            "--key-id",
            SECOND_KEY,
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_re_encrypts(&volume, 100);
    let _ = Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the rewrap finished before it was killed"
    );
    let moved = wraps(&volume.backing)
        .iter()
        .filter(|w| w.0 == second)
        .count();
    assert!(
        (99..COUNT).contains(&moved),
        "{moved} files moved before the kill"
    );

    // The config names the second key: a rerun without --key-id finishes.
    let rerun = rewrap(&volume, &[]);
    assert_eq!(rerun["Files"], COUNT);
    assert_eq!(
        rerun["Rewrapped"].as_u64().unwrap() + rerun["AlreadyCurrent"].as_u64().unwrap(),
        COUNT as u64
    );
    assert!(rerun["AlreadyCurrent"].as_u64().unwrap() >= 99);
    assert!(wraps(&volume.backing).iter().all(|w| w.0 == second));
    volume.sandbox.ok(&["key", "disable", "--key-id", KEY]);
    volume.mount();
    assert_every_file_reads(&volume, COUNT);
}

/// The daemon gives files fresh headers (O_TRUNC rewrites) while a rewrap
/// replaces headers in another process: the header lock keeps a rewrap from
/// putting an old data key back over a fresh one, so every file reads back
/// what was last written to it, before and after a remount.
#[test]
fn rewrap_while_the_mount_rewrites_files() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    const COUNT: usize = 150;
    const WRITERS: usize = 2;
    let Some(mut volume) = populated("rewrap_while_the_mount_rewrites_files", COUNT) else {
        return;
    };
    let first = key_id(&volume, KEY);
    let stop = Arc::new(AtomicBool::new(false));
    // Writer w rewrites the files i with i % WRITERS == w, round after round.
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let stop = Arc::clone(&stop);
            let paths: Vec<(usize, PathBuf)> = (w..COUNT)
                .step_by(WRITERS)
                .map(|i| (i, volume.path(&name(i))))
                .collect();
            std::thread::spawn(move || {
                let mut last = vec![None; COUNT];
                let mut round = 1u64;
                while !stop.load(Ordering::Relaxed) {
                    for (i, path) in &paths {
                        let bytes = pattern(100 + 37 * i, round * 1000 + *i as u64);
                        std::fs::write(path, &bytes)
                            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                        last[*i] = Some(bytes);
                    }
                    round += 1;
                }
                last
            })
        })
        .collect();
    for _ in 0..3 {
        volume.sandbox.ok(&["key", "rotate", "--key-id", KEY]);
        let done = rewrap(&volume, &[]);
        assert_eq!(done["Files"], COUNT);
        assert!(
            done["Failed"].as_array().is_none_or(Vec::is_empty),
            "{done}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    let mut expected: Vec<Vec<u8>> = (0..COUNT).map(content).collect();
    for writer in writers {
        for (i, bytes) in writer.join().unwrap().into_iter().enumerate() {
            if let Some(bytes) = bytes {
                expected[i] = bytes;
            }
        }
    }
    let check = |volume: &MountedVolume| {
        for (i, bytes) in expected.iter().enumerate() {
            let read =
                std::fs::read(volume.path(&name(i))).unwrap_or_else(|e| panic!("{}: {e}", name(i)));
            assert!(read == *bytes, "{}: not what was last written", name(i));
        }
    };
    check(&volume);
    volume.remount();
    check(&volume);
    // Every header is under the newest material: rewrapped, or fresh from the daemon.
    assert!(wraps(&volume.backing).iter().all(|w| *w == (first, 4)));
}

/// A mounted volume follows a rewrap to another key: after the rewrap the
/// first key can be disabled at once, and files made on the same mount are
/// under the second key. A config swapped in by hand (another volume's) is
/// not followed.
#[test]
fn a_mounted_volume_follows_a_rewrap_to_another_key() {
    const COUNT: usize = 20;
    let Some(mut volume) = populated("a_mounted_volume_follows_a_rewrap_to_another_key", COUNT)
    else {
        return;
    };
    let first = key_id(&volume, KEY);
    volume.sandbox.ok(&["key", "create", "--alias", SECOND_KEY]);
    let second = key_id(&volume, SECOND_KEY);

    // Another volume's config, under the second key, put in place by hand: not followed.
    let other = volume.sandbox.path("other-backing");
    std::fs::create_dir(&other).unwrap();
    volume
        .sandbox
        .ok(&["volume", "create", s(&other), "--key-id", SECOND_KEY]);
    let config = volume.backing.join("kmsfs.volume");
    let original = std::fs::read(&config).unwrap();
    std::fs::copy(other.join("kmsfs.volume"), &config).unwrap();
    std::fs::write(volume.path("while-swapped.bin"), b"x").unwrap();
    std::fs::write(&config, &original).unwrap();
    assert!(wraps(&volume.backing).iter().all(|w| w.0 == first));

    let moved = rewrap(&volume, &["--key-id", SECOND_KEY]);
    assert_eq!(moved["Rewrapped"], COUNT + 1);
    volume.sandbox.ok(&["key", "disable", "--key-id", KEY]);
    std::fs::write(volume.path("after.bin"), b"made after the rewrap").unwrap();
    std::fs::write(volume.path(&name(0)), content(0)).unwrap(); // O_TRUNC: a fresh key
    assert!(wraps(&volume.backing).iter().all(|w| w.0 == second));
    assert_every_file_reads(&volume, COUNT);
    volume.remount();
    assert_eq!(
        std::fs::read(volume.path("after.bin")).unwrap(),
        b"made after the rewrap"
    );
    assert_every_file_reads(&volume, COUNT);
}
