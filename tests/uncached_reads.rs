//! Large files opened read-only are read past the mount's page cache, with
//! the daemon's own read-ahead: the bytes are right in order, out of order,
//! in odd sizes, mapped shared, and after a write through another handle.

mod common;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use common::mount::{pattern, MountedVolume};

const SIZE: usize = 7 * 1024 * 1024 + 12_345;

/// The names of the daemon's threads.
fn daemon_threads(vol: &MountedVolume) -> Vec<String> {
    let pid = vol.daemon_pid().expect("the daemon's pid");
    fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|task| fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|comm| comm.trim_end().to_string())
        .collect()
}

fn read_ahead_threads(vol: &MountedVolume) -> usize {
    daemon_threads(vol)
        .iter()
        .filter(|name| *name == "read-ahead")
        .count()
}

/// Reads `file` from its start to its end in pieces of `piece` bytes.
fn read_in_pieces(file: &File, piece: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; piece];
    loop {
        let n = file.read_at(&mut buf, out.len() as u64).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn a_large_file_opened_read_only_is_read_past_the_page_cache_with_read_ahead() {
    const TEST: &str = "a_large_file_opened_read_only_is_read_past_the_page_cache_with_read_ahead";
    let Some(vol) = MountedVolume::new(TEST) else {
        return;
    };
    let path = vol.path("large");
    let content = pattern(SIZE, 3);
    fs::write(&path, &content).unwrap();
    let file = File::open(&path).unwrap();
    let mut first = vec![0u8; 100_003];
    file.read_exact_at(&mut first, 0).unwrap();
    assert_eq!(first, content[..100_003]);
    assert_eq!(read_ahead_threads(&vol), 1, "{:?}", daemon_threads(&vol));
    // In odd sizes from the start, so each read crosses chunks and blocks.
    assert_eq!(read_in_pieces(&file, 100_003), content);
    assert_eq!(read_in_pieces(&file, 4096 * 3 + 1), content);
    // Out of order.
    for (at, len) in [
        (5_000_000, 70_000),
        (10, 1),
        (SIZE - 5, 100),
        (2_097_152, 1_048_576),
    ] {
        let mut buf = vec![0u8; len];
        let n = file.read_at(&mut buf, at as u64).unwrap();
        assert_eq!(buf[..n], content[at..(at + len).min(SIZE)], "at {at}");
    }
    // Two handles read in turns, each its own stream.
    let other = File::open(&path).unwrap();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut buf = vec![0u8; 300_000];
    while a.len() < SIZE || b.len() < SIZE {
        for (handle, out) in [(&file, &mut a), (&other, &mut b)] {
            let n = handle.read_at(&mut buf, out.len() as u64).unwrap();
            out.extend_from_slice(&buf[..n]);
        }
    }
    assert!(a == content && b == content);

    // A shared mapping of it reads the same bytes.
    let map = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            SIZE,
            libc::PROT_READ,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    assert_ne!(map, libc::MAP_FAILED, "{}", std::io::Error::last_os_error());
    let mapped = unsafe { std::slice::from_raw_parts(map as *const u8, SIZE) }.to_vec();
    unsafe { libc::munmap(map, SIZE) };
    assert!(mapped == content, "the mapping reads other bytes");

    // The read-ahead ends with the handles (released after close returns).
    drop((file, other));
    let deadline = Instant::now() + Duration::from_secs(10);
    while read_ahead_threads(&vol) > 0 {
        assert!(Instant::now() < deadline, "{:?}", daemon_threads(&vol));
        std::thread::sleep(Duration::from_millis(20));
    }
    // Small files, and files open for writing, are read through the page
    // cache, without a read-ahead of the daemon's.
    fs::write(vol.path("small"), pattern(4096, 1)).unwrap();
    let small = File::open(vol.path("small")).unwrap();
    assert_eq!(read_in_pieces(&small, 1000), pattern(4096, 1));
    let writable = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    assert_eq!(read_in_pieces(&writable, 1 << 20), content);
    assert_eq!(read_ahead_threads(&vol), 0);
}

#[test]
fn a_stream_read_ahead_sees_a_write_through_another_handle() {
    const TEST: &str = "a_stream_read_ahead_sees_a_write_through_another_handle";
    let Some(vol) = MountedVolume::new(TEST) else {
        return;
    };
    let path = vol.path("changing");
    let mut content = pattern(SIZE, 5);
    fs::write(&path, &content).unwrap();

    let reader = File::open(&path).unwrap();
    let mut head = vec![0u8; 1 << 20];
    reader.read_exact_at(&mut head, 0).unwrap();
    assert_eq!(read_ahead_threads(&vol), 1);
    // Let the read-ahead get well past where the write lands.
    std::thread::sleep(Duration::from_millis(300));
    let patch = pattern(200_000, 9);
    let at = 3 * 1024 * 1024 + 777;
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .write_all_at(&patch, at as u64)
        .unwrap();
    content[at..at + patch.len()].copy_from_slice(&patch);

    let mut rest = vec![0u8; SIZE - (1 << 20)];
    reader.read_exact_at(&mut rest, 1 << 20).unwrap();
    assert!(
        rest == content[1 << 20..],
        "the reader got bytes from before the write"
    );

    // Read to its end, then appended to: the same handle reads on.
    let tail = pattern(3 << 20, 11);
    OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&tail)
        .unwrap();
    let mut more = vec![0u8; tail.len()];
    reader.read_exact_at(&mut more, SIZE as u64).unwrap();
    assert!(more == tail, "the appended bytes read back wrong");
}
