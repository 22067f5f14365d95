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

/// The object file of the only regular file in the volume's root.
fn only_object(vol: &MountedVolume) -> File {
    let objects: Vec<_> = fs::read_dir(&vol.backing)
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_type().unwrap().is_file())
        .filter(|entry| !entry.file_name().to_string_lossy().starts_with("kmsfs."))
        .collect();
    assert_eq!(objects.len(), 1, "{objects:?}");
    File::open(objects[0].path()).unwrap()
}

/// Drops the clean pages of `file` from the page cache.
fn drop_from_page_cache(file: &File) {
    // SAFETY: a plain system call on an open descriptor.
    let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    assert_eq!(rc, 0);
}

/// How many of the pages of `file` from `from` to `to` the page cache holds.
fn resident_pages(file: &File, from: u64, to: u64) -> usize {
    let len = file.metadata().unwrap().len() as usize;
    // SAFETY: a read-only mapping of the whole file, unmapped below; mincore
    // only reports on it.
    unsafe {
        let map = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        );
        assert_ne!(map, libc::MAP_FAILED);
        let mut pages = vec![0u8; len.div_ceil(4096)];
        assert_eq!(libc::mincore(map, len, pages.as_mut_ptr()), 0);
        libc::munmap(map, len);
        pages[(from / 4096) as usize..(to / 4096) as usize]
            .iter()
            .filter(|&&page| page & 1 == 1)
            .count()
    }
}

#[test]
fn a_read_of_chunks_not_in_the_page_cache_brings_their_neighbours_in_one_read() {
    const TEST: &str = "a_read_of_chunks_not_in_the_page_cache_brings_their_neighbours_in_one_read";
    let Some(vol) = MountedVolume::new(TEST) else {
        return;
    };
    let path = vol.path("cold");
    let content = pattern(SIZE, 9);
    fs::write(&path, &content).unwrap();
    let object = only_object(&vol);
    object.sync_all().unwrap();
    let object_len = object.metadata().unwrap().len();
    drop_from_page_cache(&object);
    // Around 4 MiB, far from the header's page and the file's ends.
    let around = 4 << 20;
    assert_eq!(resident_pages(&object, around - 65536, around + 65536), 0);

    let file = File::open(&path).unwrap();
    let at = around - 3000;
    let mut buf = vec![0u8; 4096];
    file.read_exact_at(&mut buf, at).unwrap();
    assert_eq!(buf, content[at as usize..at as usize + 4096]);
    // The chunks' two or three pages, and the rest of their 32 KiB.
    let resident = resident_pages(&object, around - 65536, around + 65536);
    assert!(resident >= 8, "{resident} pages read around a 4 KiB read");

    // Out of order, in odd sizes, up to and past the end, all cold.
    drop_from_page_cache(&object);
    for (at, len) in [
        (5_000_001, 7777),
        (123, 10),
        (SIZE - 5000, 5000),
        (SIZE - 10, 100),
    ] {
        let mut buf = vec![0u8; len];
        let n = file.read_at(&mut buf, at as u64).unwrap();
        let want = &content[at..(at + len).min(SIZE)];
        assert_eq!(&buf[..n], want, "at {at}");
    }
    assert!(object_len > SIZE as u64);
}
