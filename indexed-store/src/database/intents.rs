//! Write intents: which open transaction has staged a write to each key. A transaction
//! that stages a write to a key another open transaction has written fails at once with a
//! serialization failure (first writer wins, without waiting), so that conflicts between
//! transactions surface at the statement, where a client can roll back and retry, rather
//! than at COMMIT. (ADBC's Flight SQL driver forgets its transaction when a COMMIT fails,
//! and can then neither roll back nor go on; see docs/transactions.md.) A key's intent is
//! held until its transaction ends; writes outside transactions take none, and a COMMIT
//! still checks what they wrote.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

/// The intents of one database.
#[derive(Default)]
pub struct Intents {
    held: Mutex<HashMap<(Arc<str>, Vec<u8>), u64>>,
}

impl Intents {
    /// Takes the intents on `keys` for transaction `tx`, all or none: the first key
    /// another transaction holds is returned (its partition) and nothing is taken. Keys
    /// `tx` already holds are skipped; returns the keys newly taken.
    pub fn take<'a>(
        &self,
        tx: u64,
        keys: impl Iterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<Vec<(Arc<str>, Vec<u8>)>, String> {
        let mut held = self.held.lock();
        let mut taken = Vec::new();
        for (partition, key) in keys {
            let k = (Arc::<str>::from(partition), key.to_vec());
            match held.get(&k) {
                Some(&owner) if owner == tx => {}
                Some(_) => {
                    for k in &taken {
                        held.remove(k);
                    }
                    return Err(partition.to_owned());
                }
                None => {
                    held.insert(k.clone(), tx);
                    taken.push(k);
                }
            }
        }
        Ok(taken)
    }

    /// Gives back the intents of `keys` that `tx` holds.
    pub fn release(&self, tx: u64, keys: &[(Arc<str>, Vec<u8>)]) {
        let mut held = self.held.lock();
        for k in keys {
            if held.get(k) == Some(&tx) {
                held.remove(k);
            }
        }
    }
}
