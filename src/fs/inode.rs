//! The inode table: which node id the kernel knows for which backing inode,
//! and how many lookups it holds on each (FUSE's lookup count).
//!
//! Invariants (each has a unit test below):
//! 1. The root is node id [`ROOT_ID`], present from the start and never
//!    removed, whatever its count.
//! 2. `nodes` and `ids` are inverse maps: a backing inode has at most one node
//!    id and a node id names one backing inode.
//! 3. Every entry but the root has a lookup count of at least 1: each reply that
//!    hands a node id to the kernel (lookup, create, mkdir, mknod, symlink,
//!    link) counts one with [`InodeTable::remember`], and an entry is removed
//!    exactly when [`InodeTable::forget`] brings its count to 0.
//! 4. A node id is the backing inode number when that number is free, so that
//!    `st_ino` stays the same across lookups and remounts; otherwise (the root's
//!    1, or a number in use) it is taken from a private range above 2^63.
//!
//! Generic over the node, so that it is tested without a backing directory.
//! Must not import fuser: node ids are plain numbers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::backing::BackingKey;

pub type NodeId = u64;

/// The root directory's node id (FUSE_ROOT_ID).
pub const ROOT_ID: NodeId = 1;

/// Where node ids come from when the backing inode number cannot be used.
const FIRST_PRIVATE_ID: NodeId = 1 << 63;

pub struct InodeTable<T> {
    tables: Mutex<Tables<T>>,
}

struct Tables<T> {
    nodes: HashMap<NodeId, Slot<T>>,
    ids: HashMap<BackingKey, NodeId>,
    next_private: NodeId,
}

struct Slot<T> {
    node: Arc<T>,
    key: BackingKey,
    lookups: u64,
}

impl<T> InodeTable<T> {
    /// A table holding only the root, the backing inode `root_key`.
    pub fn new(root_key: BackingKey, root: T) -> InodeTable<T> {
        let mut tables = Tables {
            nodes: HashMap::new(),
            ids: HashMap::new(),
            next_private: FIRST_PRIVATE_ID,
        };
        tables.insert(ROOT_ID, root_key, Arc::new(root));
        InodeTable {
            tables: Mutex::new(tables),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Tables<T>> {
        // A panic elsewhere cannot leave the maps half-updated: every update
        // below completes before anything that could panic.
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The node `id` names, if the kernel still knows it.
    pub fn get(&self, id: NodeId) -> Option<Arc<T>> {
        self.lock()
            .nodes
            .get(&id)
            .map(|slot| Arc::clone(&slot.node))
    }

    /// The node id of backing inode `key`, if it has one.
    pub fn id_of(&self, key: &BackingKey) -> Option<NodeId> {
        self.lock().ids.get(key).copied()
    }

    /// Counts one lookup of backing inode `key` and returns its node id and
    /// node: the known one (`candidate` is then dropped) or `candidate` under a
    /// new id.
    pub fn remember(&self, key: BackingKey, candidate: T) -> (NodeId, Arc<T>) {
        let mut tables = self.lock();
        if let Some(&id) = tables.ids.get(&key) {
            let slot = tables
                .nodes
                .get_mut(&id)
                .expect("BUG: inode table maps out of step");
            slot.lookups += 1;
            return (id, Arc::clone(&slot.node));
        }
        let id = tables.free_id(key.ino);
        let node = Arc::new(candidate);
        tables.insert(id, key, Arc::clone(&node));
        (id, node)
    }

    /// Counts one more lookup of node `id` if it is still the node of backing
    /// inode `key` (its descriptor keeps that inode, so the number is not
    /// reused meanwhile), and returns it.
    pub fn count_lookup(&self, id: NodeId, key: &BackingKey) -> Option<Arc<T>> {
        let mut tables = self.lock();
        let slot = tables.nodes.get_mut(&id).filter(|slot| slot.key == *key)?;
        slot.lookups += 1;
        Some(Arc::clone(&slot.node))
    }

    /// Drops `count` lookups of node `id`; the node leaves the table when none
    /// are left. The root stays. An unknown id is ignored (a forget can race a
    /// failed reply).
    pub fn forget(&self, id: NodeId, count: u64) {
        if id == ROOT_ID {
            return;
        }
        let mut tables = self.lock();
        let Some(slot) = tables.nodes.get_mut(&id) else {
            return;
        };
        slot.lookups = slot.lookups.saturating_sub(count);
        if slot.lookups == 0 {
            let key = slot.key;
            let gone = tables.nodes.remove(&id);
            tables.ids.remove(&key);
            // Dropped unlocked: the last reference to an unlinked file closes
            // its backing descriptor, and ext4 then frees (and may discard)
            // its blocks, which must not hold up every other lookup.
            drop(tables);
            drop(gone);
        }
    }

    /// Every node the table holds, the root included (a snapshot: the table
    /// is not locked while the caller looks at them).
    pub fn all(&self) -> Vec<Arc<T>> {
        self.lock()
            .nodes
            .values()
            .map(|slot| Arc::clone(&slot.node))
            .collect()
    }

    /// How many nodes the table holds, the root included.
    #[cfg(test)]
    fn len(&self) -> usize {
        let tables = self.lock();
        assert_eq!(tables.nodes.len(), tables.ids.len());
        tables.nodes.len()
    }

    #[cfg(test)]
    fn lookups(&self, id: NodeId) -> Option<u64> {
        self.lock().nodes.get(&id).map(|slot| slot.lookups)
    }
}

impl<T> Tables<T> {
    fn insert(&mut self, id: NodeId, key: BackingKey, node: Arc<T>) {
        let lookups = u64::from(id != ROOT_ID);
        self.nodes.insert(id, Slot { node, key, lookups });
        self.ids.insert(key, id);
    }

    /// `ino` if no node has it and it is not the root's id, else a private id.
    fn free_id(&mut self, ino: u64) -> NodeId {
        if ino != ROOT_ID && ino < FIRST_PRIVATE_ID && !self.nodes.contains_key(&ino) {
            return ino;
        }
        loop {
            let id = self.next_private;
            self.next_private = self.next_private.wrapping_add(1).max(FIRST_PRIVATE_ID);
            if !self.nodes.contains_key(&id) {
                return id;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ino: u64) -> BackingKey {
        BackingKey { dev: 7, ino }
    }

    fn table() -> InodeTable<&'static str> {
        InodeTable::new(key(2), "root")
    }

    #[test]
    fn the_root_is_id_1_and_is_never_forgotten() {
        let t = table();
        assert_eq!(t.get(ROOT_ID).as_deref(), Some(&"root"));
        assert_eq!(t.id_of(&key(2)), Some(ROOT_ID));
        t.forget(ROOT_ID, 1_000);
        assert_eq!(t.get(ROOT_ID).as_deref(), Some(&"root"));
        // A lookup that finds the root's backing inode gets the root.
        assert_eq!(t.remember(key(2), "other").0, ROOT_ID);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn a_node_id_is_its_backing_inode_number_when_free() {
        let t = table();
        let (id, node) = t.remember(key(500), "a");
        assert_eq!((id, *node), (500, "a"));
        assert_eq!(t.id_of(&key(500)), Some(500));
    }

    #[test]
    fn a_taken_number_gets_a_private_id() {
        let t = table();
        // The same inode number on another device, and inode number 1.
        let (first, _) = t.remember(key(500), "a");
        let (second, _) = t.remember(BackingKey { dev: 8, ino: 500 }, "b");
        let (third, _) = t.remember(key(1), "c");
        assert_eq!(first, 500);
        assert!(second >= FIRST_PRIVATE_ID);
        assert!(third >= FIRST_PRIVATE_ID);
        assert_ne!(second, third);
        assert_eq!(t.len(), 4);
    }

    #[test]
    fn repeated_lookups_share_one_node_and_count() {
        let t = table();
        let (id, first) = t.remember(key(9), "first");
        let (again, second) = t.remember(key(9), "second");
        assert_eq!(id, again);
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(*second, "first");
        assert_eq!(t.lookups(id), Some(2));
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn a_node_leaves_exactly_when_its_lookups_are_forgotten() {
        let t = table();
        for _ in 0..3 {
            t.remember(key(9), "n");
        }
        t.forget(9, 2);
        assert_eq!(t.lookups(9), Some(1));
        assert!(t.get(9).is_some());
        t.forget(9, 1);
        assert!(t.get(9).is_none());
        assert_eq!(t.id_of(&key(9)), None);
        assert_eq!(t.len(), 1);
        // Found again later, it is a fresh node with one lookup.
        let (id, node) = t.remember(key(9), "fresh");
        assert_eq!((id, *node, t.lookups(id)), (9, "fresh", Some(1)));
    }

    #[test]
    fn forgetting_too_much_or_an_unknown_id_is_harmless() {
        let t = table();
        t.remember(key(9), "n");
        t.forget(9, 5);
        assert!(t.get(9).is_none());
        t.forget(9, 1);
        t.forget(12345, 1);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn a_forgotten_private_id_is_not_reused_while_taken() {
        let t = table();
        let (a, _) = t.remember(key(1), "a");
        t.forget(a, 1);
        let (b, _) = t.remember(key(1), "b");
        let (c, _) = t.remember(BackingKey { dev: 9, ino: 1 }, "c");
        assert_ne!(b, c);
        assert!(t.get(b).is_some() && t.get(c).is_some());
    }

    #[test]
    fn nodes_are_shared_across_threads() {
        let t = Arc::new(InodeTable::new(key(2), 0u64));
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let t = Arc::clone(&t);
                std::thread::spawn(move || {
                    for ino in 10..110 {
                        t.remember(key(ino), ino);
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().unwrap();
        }
        assert_eq!(t.len(), 101);
        assert_eq!(t.all().len(), 101);
        for ino in 10..110 {
            assert_eq!(t.lookups(ino), Some(4));
            t.forget(ino, 4);
        }
        assert_eq!(t.len(), 1);
    }
}
