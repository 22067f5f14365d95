//! Reads ahead of a walk. `find`, `du` or `ls -R` list a directory, then
//! descend into its subdirectories one at a time; on a cold cache each
//! descent waits for the disk, one read at a time: for the subdirectory's id
//! file, its entries and their inodes. When a listing shows subdirectories the
//! daemon does not know yet, two background threads read those into the page
//! cache while the walker is still busy elsewhere, in the order a depth-first
//! walk visits them: a listing's subdirectories go to the front of the queue.
//! A walk that also opens files (`grep -r`, `tar c`, a backup) waits once more
//! per file, for its header: the first open in a directory has the start of
//! every file there read ahead (asynchronously, POSIX_FADV_WILLNEED). A walk
//! that only stats opens nothing and reads no file. Nothing read is kept: the
//! requests that follow read the same blocks from the cache. They move the
//! access time of no file or directory of the volume (O_NOATIME; where that
//! is not allowed, a daemon not running as root and another user's files,
//! those reads are not made); only kmsfs's own directory id files are read
//! as usual.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;

use crate::volume::names::DirId;

use super::backing::{self, Kind};
use super::node::Node;

/// How many jobs may wait; beyond that, the farthest are dropped.
const QUEUE: usize = 4096;
/// How much of each file to read ahead: its header and first chunk.
const FILE_START: u64 = 64 * 1024;
/// Reads in flight at once: enough to keep a disk queue busy, no more.
const THREADS: usize = 2;

enum Job {
    /// Backing entry `entry` of directory `parent`, a subdirectory to read.
    Subdirectory { parent: Arc<Node>, entry: OsString },
    /// The directory whose regular files' starts to read.
    FileStarts(Arc<Node>),
}

#[derive(Default)]
struct Queue {
    jobs: Mutex<Jobs>,
    ready: Condvar,
}

#[derive(Default)]
struct Jobs {
    waiting: VecDeque<Job>,
    closed: bool,
}

pub struct Prefetcher {
    queue: Arc<Queue>,
}

impl Prefetcher {
    /// Starts the reading threads; they end when the prefetcher is dropped.
    pub fn start() -> Prefetcher {
        let queue = Arc::new(Queue::default());
        for n in 0..THREADS {
            let queue = Arc::clone(&queue);
            let started = thread::Builder::new()
                .name(format!("prefetch-{n}"))
                .spawn(move || work(&queue));
            if let Err(e) = started {
                log::warn!("no read-ahead of subdirectories: {e}");
            }
        }
        Prefetcher { queue }
    }

    /// Asks for the subdirectories `entries` of `parent` to be read ahead,
    /// before those asked for earlier.
    pub fn subdirectories(&self, parent: &Arc<Node>, entries: Vec<OsString>) {
        if entries.is_empty() {
            return;
        }
        self.queue.lock().put_first(parent, entries);
        self.queue.ready.notify_all();
    }

    /// Asks for the start of every regular file of `dir` to be read ahead,
    /// before anything else.
    pub fn file_starts(&self, dir: &Arc<Node>) {
        let mut jobs = self.queue.lock();
        jobs.waiting.push_front(Job::FileStarts(Arc::clone(dir)));
        jobs.waiting.truncate(QUEUE);
        drop(jobs);
        self.queue.ready.notify_one();
    }
}

impl Drop for Prefetcher {
    fn drop(&mut self) {
        self.queue.lock().closed = true;
        self.queue.ready.notify_all();
    }
}

impl Jobs {
    /// Puts `entries` of `parent`, in their order, before every waiting job;
    /// the last jobs beyond the queue's bound are dropped.
    fn put_first(&mut self, parent: &Arc<Node>, entries: Vec<OsString>) {
        for entry in entries.into_iter().rev() {
            self.waiting.push_front(Job::Subdirectory {
                parent: Arc::clone(parent),
                entry,
            });
        }
        self.waiting.truncate(QUEUE);
    }
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, Jobs> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn work(queue: &Queue) {
    loop {
        let job = {
            let mut jobs = queue.lock();
            loop {
                if jobs.closed {
                    return;
                }
                if let Some(job) = jobs.waiting.pop_front() {
                    break job;
                }
                jobs = queue.ready.wait(jobs).unwrap_or_else(|e| e.into_inner());
            }
        };
        read_ahead(&job);
    }
}

fn read_ahead(job: &Job) {
    match job {
        Job::Subdirectory { parent, entry } => read_subdirectory(parent, entry),
        Job::FileStarts(dir) => read_file_starts(dir.fd()),
    }
}

/// Reads the id, the entries and their inodes of the subdirectory, for the
/// cache only: a failure here is met again, and handled, by the walk.
fn read_subdirectory(parent: &Node, entry: &OsString) {
    let Some(entry) = entry.to_str() else {
        return;
    };
    let Ok(dir) = backing::open_entry(parent.fd(), entry) else {
        return;
    };
    let _ = DirId::read_in(&backing::proc_path(dir.as_fd()));
    for entry in backing::list_dir_unseen(dir.as_fd()).unwrap_or_default() {
        let _ = backing::read_inode(dir.as_fd(), &entry.name);
    }
}

/// Starts reading the header and first chunk of each regular file of `dir`.
fn read_file_starts(dir: BorrowedFd<'_>) {
    for entry in backing::list_dir_unseen(dir).unwrap_or_default() {
        if entry.kind == Some(Kind::RegularFile) {
            let _ = backing::read_ahead_start(dir, &entry.name, FILE_START);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::backing::BackingKey;

    fn names(jobs: &Jobs) -> Vec<String> {
        let name = |job: &Job| match job {
            Job::Subdirectory { entry, .. } => entry.to_string_lossy().into_owned(),
            Job::FileStarts(_) => "file starts".to_string(),
        };
        jobs.waiting.iter().map(name).collect()
    }

    #[test]
    fn a_new_listing_goes_first_in_its_order_and_the_farthest_jobs_are_dropped() {
        let fd = backing::open_root(std::path::Path::new("/")).unwrap();
        let key = BackingKey { dev: 0, ino: 0 };
        let root = Arc::new(Node::new(fd, key, Kind::Directory, None, OsString::new()));
        let mut jobs = Jobs::default();
        jobs.put_first(&root, vec!["a".into(), "b".into()]);
        assert_eq!(names(&jobs), ["a", "b"]);
        jobs.waiting.pop_front();
        // A depth-first walk lists a, then visits a1, a2, and b only then.
        jobs.put_first(&root, vec!["a1".into(), "a2".into()]);
        assert_eq!(names(&jobs), ["a1", "a2", "b"]);
        let many = (0..QUEUE).map(|n| OsString::from(n.to_string())).collect();
        jobs.put_first(&root, many);
        assert_eq!(jobs.waiting.len(), QUEUE);
        assert_eq!(names(&jobs)[QUEUE - 1], (QUEUE - 1).to_string());
    }

    #[test]
    fn a_directory_has_its_files_read_ahead_once() {
        let fd = backing::open_root(std::path::Path::new("/")).unwrap();
        let key = BackingKey { dev: 0, ino: 0 };
        let dir = Node::new(fd, key, Kind::Directory, None, OsString::new());
        assert!(dir.first_to_read_files_ahead());
        assert!(!dir.first_to_read_files_ahead());
    }
}
