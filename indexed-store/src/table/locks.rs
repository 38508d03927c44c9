//! Striped key locks: writers lock every primary key and unique value they touch, in one
//! global order, so concurrent writers to the same keys serialise and never deadlock.

use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hasher};

use parking_lot::{Mutex, MutexGuard};

const STRIPES: usize = 1024;

/// A fixed set of mutexes; a key maps to one of them by hash.
pub struct KeyLocks {
    stripes: Vec<Mutex<()>>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for KeyLocks {
    fn default() -> Self {
        KeyLocks {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            hasher: Default::default(),
        }
    }
}

impl KeyLocks {
    /// The stripe of `key` in namespace `space` (a partition name).
    pub fn stripe(&self, space: &str, key: &[u8]) -> usize {
        let mut h = self.hasher.build_hasher();
        h.write(space.as_bytes());
        h.write_u8(0xFF);
        h.write(key);
        (h.finish() as usize) % self.stripes.len()
    }

    /// Locks the stripes in ascending order (the global order that rules out deadlock).
    pub fn lock_all(&self, stripes: &BTreeSet<usize>) -> Vec<MutexGuard<'_, ()>> {
        stripes.iter().map(|&s| self.stripes[s].lock()).collect()
    }
}
