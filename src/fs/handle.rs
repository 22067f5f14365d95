//! Open handles: the numbers the kernel passes back to read, write, readdir
//! and release, each naming one open file or directory until it is released.
//! Numbers are never reused within a mount. Must not import fuser.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

pub type HandleId = u64;

pub struct HandleTable<T> {
    handles: Mutex<HashMap<HandleId, Arc<T>>>,
    next: AtomicU64,
}

impl<T> HandleTable<T> {
    pub fn new() -> HandleTable<T> {
        HandleTable {
            handles: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<HandleId, Arc<T>>> {
        // Each update is a single map operation: nothing is left half-done.
        self.handles.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn insert(&self, handle: T) -> HandleId {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, Arc::new(handle));
        id
    }

    pub fn get(&self, id: HandleId) -> Option<Arc<T>> {
        self.lock().get(&id).cloned()
    }

    pub fn remove(&self, id: HandleId) -> Option<Arc<T>> {
        self.lock().remove(&id)
    }

    /// How many handles are open.
    pub fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_distinct_and_released_once() {
        let table = HandleTable::new();
        let a = table.insert("a");
        let b = table.insert("b");
        assert_ne!(a, b);
        assert_eq!(table.get(a).as_deref(), Some(&"a"));
        assert_eq!(table.remove(a).as_deref(), Some(&"a"));
        assert!(table.get(a).is_none());
        assert_eq!(table.len(), 1);
        assert!(table.remove(a).is_none());
        assert_eq!(table.get(b).as_deref(), Some(&"b"));
        // A released number is not handed out again.
        assert!(table.insert("c") > b);
    }
}
