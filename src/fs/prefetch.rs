//! Reads subdirectories ahead of a walk. `find`, `du` or `ls -R` list a
//! directory, then descend into its subdirectories one at a time; on a cold
//! cache each descent waits for the disk, one read at a time: for the
//! subdirectory's id file, its entries and their inodes. When a listing shows subdirectories the
//! daemon does not know yet, two background threads read those into the page
//! cache while the walker is still busy elsewhere, in the order a depth-first
//! walk visits them: a listing's subdirectories go to the front of the queue.
//! Nothing read is kept: the requests that follow read the same blocks from
//! the cache.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::fd::AsFd;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;

use crate::volume::names::DIR_ID_FILE;

use super::backing;
use super::node::Node;

/// How many subdirectories may wait; beyond that, the farthest are dropped.
const QUEUE: usize = 4096;
/// Reads in flight at once: enough to keep a disk queue busy, no more.
const THREADS: usize = 2;

/// Backing entry `entry` of directory `parent`, a subdirectory to read ahead.
struct Job {
    parent: Arc<Node>,
    entry: OsString,
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
            self.waiting.push_front(Job {
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

/// Reads the id file, the entries and their inodes of the subdirectory, for
/// the cache only: a failure here is met again, and handled, by the walk.
fn read_ahead(job: &Job) {
    let Some(entry) = job.entry.to_str() else {
        return;
    };
    let Ok(dir) = backing::open_entry(job.parent.fd(), entry) else {
        return;
    };
    let _ = backing::read_small(dir.as_fd(), DIR_ID_FILE);
    for entry in backing::list_dir(dir.as_fd()).unwrap_or_default() {
        let _ = backing::read_inode(dir.as_fd(), &entry.name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::backing::{BackingKey, Kind};

    fn names(jobs: &Jobs) -> Vec<&str> {
        jobs.waiting
            .iter()
            .map(|job| job.entry.to_str().unwrap())
            .collect()
    }

    #[test]
    fn a_new_listing_goes_first_in_its_order_and_the_farthest_jobs_are_dropped() {
        let fd = backing::open_root(std::path::Path::new("/")).unwrap();
        let key = BackingKey { dev: 0, ino: 0 };
        let root = Arc::new(Node::new(fd, key, Kind::Directory, None, OsString::new()));
        let mut jobs = Jobs::default();
        jobs.put_first(&root, vec!["a".into(), "b".into()]);
        assert_eq!(jobs.waiting.pop_front().unwrap().entry, "a");
        // A depth-first walk lists a, then visits a1, a2, and b only then.
        jobs.put_first(&root, vec!["a1".into(), "a2".into()]);
        assert_eq!(names(&jobs), ["a1", "a2", "b"]);
        let many = (0..QUEUE).map(|n| OsString::from(n.to_string())).collect();
        jobs.put_first(&root, many);
        assert_eq!(jobs.waiting.len(), QUEUE);
        assert_eq!(names(&jobs)[QUEUE - 1], (QUEUE - 1).to_string());
    }
}
