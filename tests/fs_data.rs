//! File contents through a real mount, for both ciphers: the sizes around chunk
//! boundaries written and read back directly and through cp, tar and dd with
//! odd block sizes; and no plaintext (contents or names) in the backing directory.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::mount::{pattern, MountedVolume};

const CHUNK: usize = kmsfs::format::object::DEFAULT_CHUNK_SIZE as usize;

/// The sizes of the issue: 0, 1, chunk−1, chunk, chunk+1, 3 chunks+7, 10 MiB.
const SIZES: [usize; 7] = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 7, 10 << 20];

const CIPHERS: [&str; 2] = ["aes-256-gcm", "xchacha20-poly1305"];

fn run(command: &mut Command) {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn assert_same_bytes(path: &Path, expected: &[u8]) {
    let got = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(got.len(), expected.len(), "{}: length", path.display());
    assert!(got == expected, "{}: contents differ", path.display());
}

/// Plain source files of every size, outside the mount.
fn sources(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    std::fs::create_dir_all(dir).unwrap();
    SIZES
        .iter()
        .map(|&size| {
            let path = dir.join(format!("f{size}"));
            let bytes = pattern(size, size as u64 + 1);
            std::fs::write(&path, &bytes).unwrap();
            (path, bytes)
        })
        .collect()
}

#[test]
fn every_size_round_trips_directly_and_through_cp_tar_and_dd() {
    for cipher in CIPHERS {
        let Some(mut vol) = MountedVolume::with(
            "every_size_round_trips_directly_and_through_cp_tar_and_dd",
            &["--cipher", cipher],
        ) else {
            return;
        };
        let src = vol.sandbox.path("src");
        let files = sources(&src);
        let direct = vol.path("direct");
        std::fs::create_dir(&direct).unwrap();
        for (path, bytes) in &files {
            let name = path.file_name().unwrap();
            // Written and read with the plain system calls.
            let inside = direct.join(name);
            std::fs::write(&inside, bytes).unwrap();
            assert_eq!(
                inside.metadata().unwrap().len(),
                bytes.len() as u64,
                "stat size"
            );
            assert_same_bytes(&inside, bytes);

            // cp in and out.
            let copied = vol.path(&format!("cp-{}", name.to_str().unwrap()));
            run(Command::new("cp").arg(path).arg(&copied));
            assert_same_bytes(&copied, bytes);
            let out = vol
                .sandbox
                .path(&format!("out-cp-{}", name.to_str().unwrap()));
            run(Command::new("cp").arg(&copied).arg(&out));
            assert_same_bytes(&out, bytes);

            // dd with block sizes that never meet a chunk boundary evenly.
            let dd = vol.path(&format!("dd-{}", name.to_str().unwrap()));
            run(Command::new("dd")
                .arg(format!("if={}", path.display()))
                .arg(format!("of={}", dd.display()))
                .args(["bs=4093", "status=none"]));
            assert_same_bytes(&dd, bytes);
            let out = vol
                .sandbox
                .path(&format!("out-dd-{}", name.to_str().unwrap()));
            run(Command::new("dd")
                .arg(format!("if={}", dd.display()))
                .arg(format!("of={}", out.display()))
                .args(["bs=7919", "status=none"]));
            assert_same_bytes(&out, bytes);
        }

        // tar in, tar out.
        let tar_in = vol.path("tar");
        std::fs::create_dir(&tar_in).unwrap();
        let archive = vol.sandbox.path("src.tar");
        run(Command::new("tar")
            .arg("-cf")
            .arg(&archive)
            .arg("-C")
            .arg(&src)
            .arg("."));
        run(Command::new("tar")
            .arg("-xf")
            .arg(&archive)
            .arg("-C")
            .arg(&tar_in));
        let tar_out = vol.sandbox.path("tar-out");
        std::fs::create_dir(&tar_out).unwrap();
        let archive_back = vol.sandbox.path("back.tar");
        run(Command::new("tar")
            .arg("-cf")
            .arg(&archive_back)
            .arg("-C")
            .arg(&tar_in)
            .arg("."));
        run(Command::new("tar")
            .arg("-xf")
            .arg(&archive_back)
            .arg("-C")
            .arg(&tar_out));
        for (path, bytes) in &files {
            let name = path.file_name().unwrap();
            assert_same_bytes(&tar_in.join(name), bytes);
            assert_same_bytes(&tar_out.join(name), bytes);
        }

        // Everything is still there after a remount (nothing lived only in caches).
        vol.remount();
        for (path, bytes) in &files {
            let name = path.file_name().unwrap().to_str().unwrap();
            assert_same_bytes(&direct.join(name), bytes);
            assert_same_bytes(&vol.path(&format!("dd-{name}")), bytes);
            assert_same_bytes(&tar_in.join(name), bytes);
        }
    }
}

#[test]
fn dd_patches_at_odd_offsets_land_where_they_should() {
    let Some(vol) = MountedVolume::with(
        "dd_patches_at_odd_offsets_land_where_they_should",
        &["--chunk-size", "4096"],
    ) else {
        return;
    };
    let target = vol.path("patched");
    let mut model = pattern(5 * 4096 + 123, 7);
    std::fs::write(&target, &model).unwrap();
    let patch = vol.sandbox.write("patch", &pattern(3001, 8));
    // (block size, seek in blocks): straddling boundaries, inside one chunk, past the end.
    for (bs, seek) in [(1000, 4), (3001, 1), (7, 1000), (4097, 5), (999, 30)] {
        run(Command::new("dd")
            .arg(format!("if={}", patch.display()))
            .arg(format!("of={}", target.display()))
            .arg(format!("bs={bs}"))
            .arg(format!("seek={seek}"))
            .args(["conv=notrunc", "status=none"]));
        let patch_bytes = std::fs::read(&patch).unwrap();
        let at = bs * seek;
        if model.len() < at + patch_bytes.len() {
            model.resize(at + patch_bytes.len(), 0);
        }
        model[at..at + patch_bytes.len()].copy_from_slice(&patch_bytes);
        assert_same_bytes(&target, &model);
    }
}

const MARKER: &str = "KMSFS-PLAINTEXT-MARKER-5b1e";

#[test]
fn no_plaintext_reaches_the_backing_directory() {
    let Some(mut vol) = MountedVolume::new("no_plaintext_reaches_the_backing_directory") else {
        return;
    };
    let dir = vol.path(&format!("dir-{MARKER}"));
    std::fs::create_dir(&dir).unwrap();
    let line = format!("{MARKER}\n");
    let small = line.clone();
    let large = line.repeat(200_000); // several MiB, many chunks
    std::fs::write(dir.join(format!("small-{MARKER}")), &small).unwrap();
    std::fs::write(vol.path(&format!("large-{MARKER}.txt")), &large).unwrap();
    std::os::unix::fs::symlink(
        format!("target-{MARKER}"),
        vol.path(&format!("link-{MARKER}")),
    )
    .unwrap();
    std::fs::hard_link(
        dir.join(format!("small-{MARKER}")),
        vol.path(&format!("hard-{MARKER}")),
    )
    .unwrap();
    // A long name (encrypted it exceeds 255 bytes: the sidecar path).
    let long = format!("{MARKER}{}", "x".repeat(255 - MARKER.len()));
    std::fs::write(vol.path(&long), &small).unwrap();
    // Rewrites and a truncate leave no stale plaintext either.
    let rewritten = vol.path(&format!("rewritten-{MARKER}"));
    std::fs::write(&rewritten, &large).unwrap();
    std::fs::write(&rewritten, b"short").unwrap();
    vol.unmount();

    let objects = walk(&vol.backing);
    assert!(
        objects
            .iter()
            .any(|p| p.symlink_metadata().unwrap().len() > large.len() as u64),
        "the large file's object is in the backing directory"
    );
    let found = plaintext_under(&vol.backing, MARKER.as_bytes());
    assert!(
        found.is_empty(),
        "plaintext in the backing directory: {found:?}"
    );

    // The scan does find the marker where it is: the same tree, unencrypted.
    let plain = vol.sandbox.path("plain");
    std::fs::create_dir(&plain).unwrap();
    std::fs::write(plain.join("opaque-name"), &large).unwrap();
    std::os::unix::fs::symlink(format!("target-{MARKER}"), plain.join("l")).unwrap();
    std::fs::create_dir(plain.join(format!("dir-{MARKER}"))).unwrap();
    assert_eq!(plaintext_under(&plain, MARKER.as_bytes()).len(), 3);
}

/// Every path under `root` whose name, symlink target or contents holds `marker`.
fn plaintext_under(root: &Path, marker: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for path in walk(root) {
        let meta = path.symlink_metadata().unwrap();
        let name = path.file_name().unwrap().as_encoded_bytes();
        let leaks = contains(name, marker)
            || (meta.file_type().is_symlink()
                && contains(
                    std::fs::read_link(&path)
                        .unwrap()
                        .as_os_str()
                        .as_encoded_bytes(),
                    marker,
                ))
            || (meta.is_file() && contains(&std::fs::read(&path).unwrap(), marker));
        if leaks {
            found.push(path);
        }
    }
    found
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let is_dir = path.symlink_metadata().unwrap().is_dir();
        out.push(path.clone());
        if is_dir {
            out.extend(walk(&path));
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
