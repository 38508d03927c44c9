//! Server-side handles (prepared statements, results waiting for their DoGet): each is a
//! random 128-bit name bound to the grant that made it. Another grant asking for it gets
//! `NotFound`, the same answer as for a name that never existed, so handles cannot be
//! probed. Handles unused for the idle timeout are dropped by [`Registry::sweep`], and one
//! grant may hold only so many, so a client that never closes cannot fill the server.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tonic::Status;

use super::auth::Grant;

struct Slot<T> {
    owner: u32,
    last_used: Instant,
    value: T,
}

/// Handles of one kind.
pub struct Registry<T> {
    what: &'static str,
    per_grant: usize,
    slots: Mutex<HashMap<String, Slot<T>>>,
}

/// A new unguessable handle name: 16 bytes from the operating system, in hex.
fn random_name() -> Result<String, Status> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| Status::internal(format!("no randomness for a handle: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

impl<T: Clone> Registry<T> {
    /// An empty registry; `what` names the handles in errors ("prepared statement").
    pub fn new(what: &'static str, per_grant: usize) -> Self {
        Registry {
            what,
            per_grant,
            slots: Mutex::default(),
        }
    }

    fn missing(&self, handle: &str) -> Status {
        Status::not_found(format!(
            "no {} '{handle}' (closed, expired, or never made)",
            self.what
        ))
    }

    /// Keeps `value` under a new handle owned by `grant`.
    pub fn insert(&self, grant: &Grant, value: T) -> Result<String, Status> {
        let name = random_name()?;
        let mut slots = self.slots.lock();
        let held = slots.values().filter(|s| s.owner == grant.id).count();
        if held >= self.per_grant {
            return Err(Status::resource_exhausted(format!(
                "this token holds {held} open {}s, the most allowed: close some",
                self.what
            )));
        }
        slots.insert(
            name.clone(),
            Slot {
                owner: grant.id,
                last_used: Instant::now(),
                value,
            },
        );
        Ok(name)
    }

    /// A copy of the value, when `grant` owns the handle.
    pub fn get(&self, grant: &Grant, handle: &str) -> Result<T, Status> {
        self.update(grant, handle, |v| v.clone())
    }

    /// Runs `f` on the value, when `grant` owns the handle.
    pub fn update<R>(
        &self,
        grant: &Grant,
        handle: &str,
        f: impl FnOnce(&mut T) -> R,
    ) -> Result<R, Status> {
        let mut slots = self.slots.lock();
        match slots.get_mut(handle) {
            Some(slot) if slot.owner == grant.id => {
                slot.last_used = Instant::now();
                Ok(f(&mut slot.value))
            }
            _ => Err(self.missing(handle)),
        }
    }

    /// Removes the handle and returns its value, when `grant` owns it.
    pub fn take(&self, grant: &Grant, handle: &str) -> Result<T, Status> {
        let mut slots = self.slots.lock();
        match slots.get(handle) {
            Some(slot) if slot.owner == grant.id => slots
                .remove(handle)
                .map(|s| s.value)
                .ok_or_else(|| self.missing(handle)),
            _ => Err(self.missing(handle)),
        }
    }

    /// Drops the handles unused for `idle`; returns how many.
    pub fn sweep(&self, idle: Duration) -> usize {
        let mut slots = self.slots.lock();
        let before = slots.len();
        slots.retain(|_, s| s.last_used.elapsed() < idle);
        before - slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(id: u32) -> Grant {
        Grant {
            id,
            namespace: None,
        }
    }

    #[test]
    fn another_grant_sees_not_found_and_cannot_take() {
        let r = Registry::new("prepared statement", 10);
        let h = r.insert(&grant(1), 7).unwrap();
        assert_eq!(h.len(), 32, "128 bits in hex");
        for status in [
            r.get(&grant(2), &h).unwrap_err(),
            r.take(&grant(2), &h).unwrap_err(),
        ] {
            assert_eq!(status.code(), tonic::Code::NotFound);
        }
        assert_eq!(r.get(&grant(1), &h).unwrap(), 7);
        assert_eq!(r.take(&grant(1), &h).unwrap(), 7);
        assert_eq!(
            r.get(&grant(1), &h).unwrap_err().code(),
            tonic::Code::NotFound
        );
    }

    #[test]
    fn handles_are_distinct_and_capped_per_grant() {
        let r = Registry::new("prepared statement", 3);
        let names: std::collections::HashSet<String> =
            (0..3).map(|i| r.insert(&grant(1), i).unwrap()).collect();
        assert_eq!(names.len(), 3);
        let refused = r.insert(&grant(1), 9).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        r.insert(&grant(2), 9)
            .expect("another grant has its own allowance");
    }

    #[test]
    fn sweep_drops_idle_handles_only() {
        let r = Registry::new("result", 10);
        let old = r.insert(&grant(1), 1).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        let fresh = r.insert(&grant(1), 2).unwrap();
        assert_eq!(r.sweep(Duration::from_millis(20)), 1);
        assert!(r.get(&grant(1), &old).is_err());
        assert_eq!(r.get(&grant(1), &fresh).unwrap(), 2);
    }
}
