//! Pending writes over a snapshot read exactly as the same writes applied would: every
//! read of an [`Overlay`] (point reads, many keys at once, walks either way between any
//! bounds, skip walks) answers what the backend answers once the pending batch is written.
//! And the write versions tell a transaction exactly which keys and ranges were written
//! after its snapshot.

use std::ops::Bound;
use std::sync::Arc;

use kv_store::{
    Direction, KeyRange, KvPair, MemoryBackend, Overlay, PendingWrites, ReadSet, ReadView,
    Recording, StorageBackend, Versioned, Versions, WriteBatch,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Put(u8, u8),
    Delete(u8),
    Add(u8, i8),
}

fn key(k: u8) -> Vec<u8> {
    // Two-byte keys whose prefixes overlap, so bounds fall between and on keys.
    vec![b'k', k % 16, k / 16]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<u8>(), any::<u8>()).prop_map(|(k, v)| Op::Put(k % 64, v)),
        any::<u8>().prop_map(|k| Op::Delete(k % 64)),
        (any::<u8>(), any::<i8>()).prop_map(|(k, d)| Op::Add(k % 64, d)),
    ]
}

fn batch(ops: &[Op]) -> WriteBatch {
    let mut b = WriteBatch::new();
    for op in ops {
        match op {
            Op::Put(k, v) => b.put("p", key(*k), vec![*v; (*v % 3) as usize + 1]),
            Op::Delete(k) => b.delete("p", key(*k)),
            Op::Add(k, d) => b.add("p", key(*k), i64::from(*d)),
        }
    }
    b
}

fn bound(b: Option<(u8, bool)>) -> Bound<Vec<u8>> {
    match b {
        None => Bound::Unbounded,
        Some((k, true)) => Bound::Included(key(k % 64)),
        Some((k, false)) => Bound::Excluded(key(k % 64)),
    }
}

fn walk(view: &dyn ReadView, range: &KeyRange, direction: Direction) -> Vec<KvPair> {
    view.scan("p", range, direction)
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Every other key, by skip walk.
fn skip_walk(view: &dyn ReadView, range: &KeyRange, direction: Direction) -> Vec<Vec<u8>> {
    let mut seen = Vec::new();
    view.visit_skipping("p", range, direction, &mut |k, _| {
        seen.push(k.to_vec());
        let mut next = k.to_vec();
        match direction {
            Direction::Forward => {
                next.push(0);
                next.push(0);
                kv_store::Step::Seek(next)
            }
            Direction::Reverse => kv_store::Step::Next,
        }
    })
    .unwrap();
    seen
}

fn backend(base: &[Op]) -> Arc<MemoryBackend> {
    let b = Arc::new(MemoryBackend::new());
    b.create_partition("p").unwrap();
    b.write(batch(base)).unwrap();
    b
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn an_overlay_reads_as_its_writes_applied(
        base in proptest::collection::vec(op(), 0..40),
        statements in proptest::collection::vec(proptest::collection::vec(op(), 0..10), 0..4),
        lower in proptest::option::of((any::<u8>(), any::<bool>())),
        upper in proptest::option::of((any::<u8>(), any::<bool>())),
    ) {
        let snapshot_of = backend(&base);
        let applied = backend(&base);
        let mut pending = PendingWrites::new();
        for ops in &statements {
            pending.apply(&batch(ops)).unwrap();
            applied.write(batch(ops)).unwrap();
        }
        // The batch a commit would write lands the same as the statements one by one.
        let committed = backend(&base);
        committed.write(pending.to_batch()).unwrap();

        let overlay = Overlay::new(Arc::from(snapshot_of.snapshot()), pending);
        let range = KeyRange::new(bound(lower), bound(upper));
        for direction in [Direction::Forward, Direction::Reverse] {
            let expected = walk(&*applied, &range, direction);
            prop_assert_eq!(&walk(&overlay, &range, direction), &expected);
            prop_assert_eq!(&walk(&*committed, &range, direction), &expected);
            prop_assert_eq!(
                skip_walk(&overlay, &range, direction),
                skip_walk(&*applied, &range, direction)
            );
        }
        let keys: Vec<Vec<u8>> = (0..64).map(key).collect();
        prop_assert_eq!(
            overlay.multi_get("p", &keys).unwrap(),
            applied.multi_get("p", &keys).unwrap()
        );
        for k in &keys {
            prop_assert_eq!(overlay.get("p", k).unwrap(), applied.get("p", k).unwrap());
        }
    }
}

#[test]
fn a_range_delete_is_refused_in_pending_writes() {
    let mut pending = PendingWrites::new();
    let mut b = WriteBatch::new();
    b.put("p", key(1), vec![1]);
    b.delete_range("p", key(0), key(9));
    let e = pending.apply(&b).unwrap_err();
    assert!(matches!(e, kv_store::KvError::Unsupported(_)), "{e}");
    assert!(pending.is_empty(), "nothing of the refused batch is kept");
}

fn versioned() -> (Arc<Versions>, Versioned) {
    let versions = Arc::new(Versions::default());
    let inner: Arc<dyn StorageBackend> = Arc::new(MemoryBackend::new());
    inner.create_partition("p").unwrap();
    (versions.clone(), Versioned::new(inner, versions))
}

fn put(b: &Versioned, k: u8) {
    let mut batch = WriteBatch::new();
    batch.put("p", key(k), vec![k]);
    b.write(batch).unwrap();
}

#[test]
fn versions_tell_writes_after_a_snapshot_from_writes_before_it() {
    let (versions, b) = versioned();
    put(&b, 1);
    let (start, snapshot) = versions.begin(&b);
    assert_eq!(snapshot.get("p", &key(1)).unwrap(), Some(vec![1]));
    assert!(
        !versions.written_since("p", &key(1), start),
        "written before the snapshot"
    );
    put(&b, 2);
    assert_eq!(snapshot.get("p", &key(2)).unwrap(), None);
    assert!(versions.written_since("p", &key(2), start));
    assert!(!versions.written_since("p", &key(3), start));
    let r = |lo: u8, hi: u8| KeyRange::new(Bound::Included(key(lo)), Bound::Excluded(key(hi)));
    assert!(versions.written_in_since("p", &KeyRange::all(), start));
    assert!(!versions.written_in_since("other", &KeyRange::all(), start));
    // key(k) orders by k % 16 first.
    assert!(versions.written_in_since("p", &r(2, 3), start));
    assert!(!versions.written_in_since("p", &r(3, 9), start));

    // A reader's reads, recorded, are stale once a write lands in them.
    let reads = Arc::new(ReadSet::new());
    let view = Recording::new(Arc::from(versions.begin(&b).1), reads.clone());
    let since = versions.current();
    view.get("p", &key(5)).unwrap();
    walk(&view, &r(7, 9), Direction::Forward);
    assert_eq!(reads.written_since(&versions, since), None);
    put(&b, 8);
    assert_eq!(reads.written_since(&versions, since).as_deref(), Some("p"));

    // Once every reader ended, nothing is recorded any more.
    versions.end(start);
    versions.end(since);
    assert_eq!(versions.readers(), 0);
    put(&b, 9);
    assert!(!versions.written_since("p", &key(9), 0));
}

/// Past its capacity the log forgets its older half: a reader from before that counts
/// every key as written (its commit would fail, never miss a conflict), while a reader
/// from after is answered exactly.
#[test]
fn a_full_log_forgets_old_versions_conservatively() {
    let versions = Arc::new(Versions::with_capacity(8));
    let inner: Arc<dyn StorageBackend> = Arc::new(MemoryBackend::new());
    inner.create_partition("p").unwrap();
    let b = Versioned::new(inner, versions.clone());
    let (old, _) = versions.begin(&b);
    put(&b, 1);
    assert!(!versions.written_since("p", &key(2), old));
    for k in 10..30 {
        put(&b, k);
    }
    assert!(
        versions.written_since("p", &key(2), old),
        "too old to tell: counted as written"
    );
    assert!(versions.written_in_since("p", &KeyRange::prefix(b"zzz"), old));
    let (recent, _) = versions.begin(&b);
    put(&b, 40);
    assert!(!versions.written_since("p", &key(2), recent));
    assert!(versions.written_since("p", &key(40), recent));
    versions.end(old);
    versions.end(recent);
}
