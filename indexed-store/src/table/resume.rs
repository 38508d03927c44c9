//! Resume points: where a walk that consumes an index from the front starts next time, kept
//! honest by every writer.
//!
//! A job queue takes its jobs from the front of the `jobs_ready` index, and each claim
//! deletes the entries it took. Until RocksDB compacts those deletions away, a walk from the
//! front steps over every one of them (~100 ns each, thousands between compactions: about
//! half of a claim's time when measured). A resume point remembers the first key the last
//! walk did not consume, and the next walk seeks straight there.
//!
//! Why a walk from the point misses nothing: every write that puts an entry into the
//! watched key range lowers the point to that key if it is below, and does so after the
//! write is visible to readers. Walks over one point take turns ([`ResumePoint::begin`]), and
//! a put that lands while a walk is under way is also remembered and folded into the position
//! the walk leaves ([`Walk::finish`]), whether or not the walk's snapshot saw it. So at any
//! time every live entry of the range that no walk has consumed is at or after the position,
//! or is a put still on its way to lowering it (visible only after that lowering, which then
//! covers it). Deletions need nothing: they only take entries away.
//!
//! A walk may also move the point past entries before it has consumed them (a claim does,
//! so that the next claimer walks on to other jobs while it writes), as long as it gives back
//! every one it does not consume in the end ([`ResumePoint::put`]).
//!
//! The position lives in memory: a reopened store walks from the front once.

use std::sync::Arc;

use kv_store::KeyRange;
use parking_lot::{Mutex, MutexGuard};

/// A remembered start for walks over one key range of one index partition.
#[derive(Debug)]
pub struct ResumePoint {
    partition: String,
    range: KeyRange,
    turn: Mutex<()>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Where the next walk starts (inclusive); None: at the start of the range.
    position: Option<Vec<u8>>,
    /// The lowest key put into the range since the last walk began.
    put_since_walk_began: Option<Vec<u8>>,
}

impl ResumePoint {
    /// A point over `range` of `partition`, at the start of the range.
    pub(crate) fn new(partition: String, range: KeyRange) -> Self {
        ResumePoint {
            partition,
            range,
            turn: Mutex::new(()),
            state: Mutex::new(State::default()),
        }
    }

    /// True when this point watches exactly `range` of `partition`.
    pub(crate) fn watches(&self, partition: &str, range: &KeyRange) -> bool {
        self.partition == partition && self.range == *range
    }

    /// True when a put of `key` into `partition` may land behind this point.
    pub(crate) fn covers(&self, partition: &str, key: &[u8]) -> bool {
        self.partition == partition && self.range.contains(key)
    }

    /// Starts a walk: waits for the walk under way, if any, to finish, then gives the
    /// position to start from. The walk holds its turn until it finishes or is dropped.
    pub fn begin(&self) -> Walk<'_> {
        let turn = self.turn.lock();
        let mut state = self.state.lock();
        state.put_since_walk_began = None;
        Walk {
            point: self,
            _turn: turn,
            start: state.position.clone(),
            next: None,
        }
    }

    /// An entry is at `key` that walks must find: a writer put it (called once the write
    /// is visible), or a walk moved the point past it and then did not consume it.
    pub fn put(&self, key: &[u8]) {
        let mut state = self.state.lock();
        if state.position.as_deref().is_some_and(|p| key < p) {
            state.position = Some(key.to_vec());
        }
        if state
            .put_since_walk_began
            .as_deref()
            .is_none_or(|lowest| key < lowest)
        {
            state.put_since_walk_began = Some(key.to_vec());
        }
    }
}

/// One walk's turn at a resume point.
pub struct Walk<'a> {
    point: &'a ResumePoint,
    _turn: MutexGuard<'a, ()>,
    start: Option<Vec<u8>>,
    /// Set by `finish`: where the next walk starts.
    next: Option<Option<Vec<u8>>>,
}

impl Walk<'_> {
    /// Where this walk starts (inclusive); None: at the start of the range.
    pub fn start(&self) -> Option<&[u8]> {
        self.start.as_deref()
    }

    /// Ends the walk: the next one starts at `next` (the first key this walk did not
    /// consume; None: the start of the range), or lower if something was put meanwhile.
    pub fn finish(mut self, next: Option<Vec<u8>>) {
        self.next = Some(next);
    }
}

impl Drop for Walk<'_> {
    fn drop(&mut self) {
        let mut state = self.point.state.lock();
        let put = state.put_since_walk_began.take();
        // A walk that did not finish (an error) leaves the position as it was, lowered by
        // any put meanwhile.
        if let Some(next) = self.next.take() {
            // None as `next` is the start of the range, below any put.
            state.position = match (next, put) {
                (Some(next), Some(put)) => Some(next.min(put)),
                (next, _) => next,
            };
        }
    }
}

/// For each point a batch's puts may land behind, the lowest such key: `puts` yields each
/// put's partition and key.
pub(crate) fn lowest_puts<'k>(
    points: &[Arc<ResumePoint>],
    puts: impl Iterator<Item = (&'k str, &'k [u8])>,
) -> Vec<(Arc<ResumePoint>, Vec<u8>)> {
    if points.is_empty() {
        return Vec::new();
    }
    let mut lowest: Vec<Option<&[u8]>> = vec![None; points.len()];
    for (partition, key) in puts {
        for (i, p) in points.iter().enumerate() {
            if p.covers(partition, key) && lowest[i].is_none_or(|l| key < l) {
                lowest[i] = Some(key);
            }
        }
    }
    lowest
        .into_iter()
        .enumerate()
        .filter_map(|(i, k)| k.map(|k| (points[i].clone(), k.to_vec())))
        .collect()
}
