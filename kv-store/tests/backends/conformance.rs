//! One behaviour suite, run against every backend: the in-memory backend must be a faithful
//! stand-in for RocksDB, so both answer every case below identically.

use std::ops::Bound;
use std::sync::Arc;

use kv_store::{
    Direction, KeyRange, KvError, KvPair, MemoryBackend, ReadView, RocksBackend, Step,
    StorageBackend, WriteBatch,
};

fn pairs(b: &dyn StorageBackend, partition: &str) -> Vec<KvPair> {
    b.scan(partition, &KeyRange::all(), Direction::Forward)
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn keys(it: kv_store::KvIter<'_>) -> Vec<Vec<u8>> {
    it.map(|r| r.unwrap().0).collect()
}

fn filled(b: &dyn StorageBackend) {
    b.create_partition("p").unwrap();
    let mut batch = WriteBatch::new();
    for k in [b"a".as_slice(), b"b", b"b\0", b"c", b"d\xff", b"e"] {
        batch.put("p", k.to_vec(), k.to_vec());
    }
    b.write(batch).unwrap();
}

fn partitions_are_created_on_demand_and_dropped(b: &dyn StorageBackend) {
    assert!(!b.has_partition("t/x"));
    b.create_partition("t/x").unwrap();
    b.create_partition("t/x").unwrap(); // idempotent
    b.create_partition("i/x/y").unwrap();
    assert_eq!(
        b.partitions().unwrap(),
        vec!["i/x/y".to_string(), "t/x".to_string()]
    );
    b.drop_partition("t/x").unwrap();
    assert!(!b.has_partition("t/x"));
    assert!(matches!(b.drop_partition("t/x"), Err(KvError::UnknownPartition(p)) if p == "t/x"));
    assert!(matches!(
        b.create_partition(""),
        Err(KvError::InvalidPartitionName(..))
    ));
}

fn unknown_partition_is_an_error_for_every_operation(b: &dyn StorageBackend) {
    let unknown =
        |r: Result<(), KvError>| matches!(r, Err(KvError::UnknownPartition(p)) if p == "nope");
    assert!(unknown(b.get("nope", b"k").map(|_| ())));
    assert!(unknown(b.multi_get("nope", &[b"k".to_vec()]).map(|_| ())));
    assert!(unknown(
        b.scan("nope", &KeyRange::all(), Direction::Forward)
            .map(|_| ())
    ));
    let mut batch = WriteBatch::new();
    batch.put("nope", b"k".to_vec(), vec![]);
    assert!(unknown(b.write(batch)));
}

fn a_batch_with_an_unknown_partition_writes_nothing(b: &dyn StorageBackend) {
    b.create_partition("p").unwrap();
    let mut batch = WriteBatch::new();
    batch.put("p", b"k".to_vec(), b"v".to_vec());
    batch.put("missing", b"k".to_vec(), b"v".to_vec());
    assert!(b.write(batch).is_err());
    assert_eq!(b.get("p", b"k").unwrap(), None);
}

fn batches_put_and_delete_across_partitions(b: &dyn StorageBackend) {
    b.create_partition("p").unwrap();
    b.create_partition("q").unwrap();
    let mut batch = WriteBatch::new();
    batch.put("p", b"k1".to_vec(), b"v1".to_vec());
    batch.put("q", b"k2".to_vec(), b"v2".to_vec());
    b.write(batch).unwrap();
    assert_eq!(b.get("p", b"k1").unwrap(), Some(b"v1".to_vec()));
    assert_eq!(b.get("q", b"k2").unwrap(), Some(b"v2".to_vec()));
    assert_eq!(b.get("p", b"k2").unwrap(), None);

    let mut batch = WriteBatch::new();
    batch.delete("p", b"k1".to_vec());
    batch.put("q", b"k2".to_vec(), b"v3".to_vec());
    batch.delete("q", b"never-there".to_vec());
    b.write(batch).unwrap();
    assert_eq!(b.get("p", b"k1").unwrap(), None);
    assert_eq!(b.get("q", b"k2").unwrap(), Some(b"v3".to_vec()));
}

fn multi_get_answers_in_key_order_given(b: &dyn StorageBackend) {
    filled(b);
    let got = b
        .multi_get("p", &[b"c".to_vec(), b"zz".to_vec(), b"a".to_vec()])
        .unwrap();
    assert_eq!(got, vec![Some(b"c".to_vec()), None, Some(b"a".to_vec())]);
}

fn scans_honour_bounds_in_both_directions(b: &dyn StorageBackend) {
    filled(b);
    let all = keys(b.scan("p", &KeyRange::all(), Direction::Forward).unwrap());
    assert_eq!(
        all,
        vec![
            b"a".to_vec(),
            b"b".to_vec(),
            b"b\0".to_vec(),
            b"c".to_vec(),
            b"d\xff".to_vec(),
            b"e".to_vec()
        ]
    );
    let rev = keys(b.scan("p", &KeyRange::all(), Direction::Reverse).unwrap());
    assert_eq!(rev, all.iter().rev().cloned().collect::<Vec<_>>());

    let r = KeyRange::new(
        Bound::Excluded(b"b".to_vec()),
        Bound::Included(b"d\xff".to_vec()),
    );
    assert_eq!(
        keys(b.scan("p", &r, Direction::Forward).unwrap()),
        vec![b"b\0".to_vec(), b"c".to_vec(), b"d\xff".to_vec()]
    );
    assert_eq!(
        keys(b.scan("p", &r, Direction::Reverse).unwrap()),
        vec![b"d\xff".to_vec(), b"c".to_vec(), b"b\0".to_vec()]
    );

    let r = KeyRange::new(
        Bound::Included(b"b".to_vec()),
        Bound::Excluded(b"c".to_vec()),
    );
    assert_eq!(
        keys(b.scan("p", &r, Direction::Reverse).unwrap()),
        vec![b"b\0".to_vec(), b"b".to_vec()]
    );

    let empty = KeyRange::new(
        Bound::Included(b"d".to_vec()),
        Bound::Excluded(b"c".to_vec()),
    );
    assert!(keys(b.scan("p", &empty, Direction::Forward).unwrap()).is_empty());
    assert_eq!(
        keys(
            b.scan("p", &KeyRange::prefix(b"b"), Direction::Forward)
                .unwrap()
        ),
        vec![b"b".to_vec(), b"b\0".to_vec()]
    );
}

fn a_scan_stops_when_the_caller_stops(b: &dyn StorageBackend) {
    filled(b);
    let first_two: Vec<_> = b
        .scan("p", &KeyRange::all(), Direction::Reverse)
        .unwrap()
        .take(2)
        .map(|r| r.unwrap().0)
        .collect();
    assert_eq!(first_two, vec![b"e".to_vec(), b"d\xff".to_vec()]);
}

fn delete_range_removes_a_half_open_range(b: &dyn StorageBackend) {
    filled(b);
    let mut batch = WriteBatch::new();
    batch.delete_range("p", b"b".to_vec(), b"d".to_vec());
    b.write(batch).unwrap();
    assert_eq!(
        keys(b.scan("p", &KeyRange::all(), Direction::Forward).unwrap()),
        vec![b"a".to_vec(), b"d\xff".to_vec(), b"e".to_vec()]
    );
}

/// The RocksDB backend reorders a batch by key before writing it (memtable inserts are much
/// faster in key order); changes to one key must still apply in batch order.
fn changes_to_one_key_apply_in_batch_order(b: &dyn StorageBackend) {
    b.create_partition("p").unwrap();
    b.create_partition("q").unwrap();
    let mut batch = WriteBatch::new();
    batch.put("p", b"k".to_vec(), b"1".to_vec());
    batch.put("p", b"z".to_vec(), b"z".to_vec());
    batch.delete("p", b"k".to_vec());
    batch.put("q", b"k".to_vec(), b"q".to_vec());
    batch.put("p", b"a".to_vec(), b"a".to_vec());
    batch.put("p", b"k".to_vec(), b"2".to_vec());
    batch.delete("p", b"z".to_vec());
    batch.put("p", b"m".to_vec(), b"1".to_vec());
    batch.put("p", b"m".to_vec(), b"2".to_vec());
    b.write(batch).unwrap();
    let pair = |k: &[u8], v: &[u8]| (k.to_vec(), v.to_vec());
    assert_eq!(
        pairs(b, "p"),
        vec![pair(b"a", b"a"), pair(b"k", b"2"), pair(b"m", b"2")]
    );
    assert_eq!(b.get("q", b"k").unwrap(), Some(b"q".to_vec()));

    // A range delete removes what the batch put before it, not what it puts after.
    let mut batch = WriteBatch::new();
    batch.put("p", b"b".to_vec(), b"gone".to_vec());
    batch.delete_range("p", b"a".to_vec(), b"l".to_vec());
    batch.put("p", b"c".to_vec(), b"kept".to_vec());
    b.write(batch).unwrap();
    assert_eq!(pairs(b, "p"), vec![pair(b"c", b"kept"), pair(b"m", b"2")]);
}

fn snapshots_do_not_see_later_writes(b: &dyn StorageBackend) {
    filled(b);
    let snap = b.snapshot();
    let mut batch = WriteBatch::new();
    batch.delete("p", b"a".to_vec());
    batch.put("p", b"f".to_vec(), b"new".to_vec());
    batch.put("p", b"c".to_vec(), b"changed".to_vec());
    b.write(batch).unwrap();
    assert_eq!(snap.get("p", b"a").unwrap(), Some(b"a".to_vec()));
    assert_eq!(snap.get("p", b"f").unwrap(), None);
    assert_eq!(
        snap.multi_get("p", &[b"c".to_vec()]).unwrap(),
        vec![Some(b"c".to_vec())]
    );
    assert_eq!(
        keys(
            snap.scan("p", &KeyRange::all(), Direction::Forward)
                .unwrap()
        )
        .len(),
        6
    );
    assert_eq!(b.get("p", b"c").unwrap(), Some(b"changed".to_vec()));
}

/// A snapshot is a value of its own: several threads share it and all see the point in
/// time it was taken at, whatever is written after.
fn snapshots_are_shared_by_threads_at_one_point_in_time(b: &dyn StorageBackend) {
    filled(b);
    let snap: Arc<dyn ReadView> = Arc::from(b.snapshot());
    let mut batch = WriteBatch::new();
    batch.delete("p", b"a".to_vec());
    batch.put("p", b"c".to_vec(), b"changed".to_vec());
    b.write(batch).unwrap();
    std::thread::scope(|scope| {
        for _ in 0..2 {
            let snap = Arc::clone(&snap);
            scope.spawn(move || {
                assert_eq!(snap.get("p", b"a").unwrap(), Some(b"a".to_vec()));
                assert_eq!(snap.get("p", b"c").unwrap(), Some(b"c".to_vec()));
                let walked = keys(
                    snap.scan("p", &KeyRange::all(), Direction::Forward)
                        .unwrap(),
                );
                assert_eq!(walked.len(), 6);
            });
        }
    });
    assert_eq!(b.get("p", b"a").unwrap(), None);
}

/// Reads by key from table files go through RocksDB's row cache: a cached value must never
/// answer for a newer version, a snapshot must still get its own version, and a range
/// delete (written as point deletes when a row cache is on) must not leave cached rows.
fn reads_by_key_see_their_version_after_compaction(b: &dyn StorageBackend) {
    filled(b);
    b.compact().unwrap();
    let all = |v: &dyn kv_store::ReadView| -> Vec<Option<Vec<u8>>> {
        v.multi_get("p", &[b"a".to_vec(), b"c".to_vec(), b"e".to_vec()])
            .unwrap()
    };
    let before = all(b);
    assert_eq!(before, all(b), "a second read (from the cache) agrees");
    let snap = b.snapshot();
    let mut batch = WriteBatch::new();
    batch.put("p", b"a".to_vec(), b"a2".to_vec());
    batch.delete("p", b"c".to_vec());
    b.write(batch).unwrap();
    b.compact().unwrap();
    assert_eq!(all(b), vec![Some(b"a2".to_vec()), None, before[2].clone()]);
    assert_eq!(
        all(snap.as_ref()),
        before,
        "the snapshot reads its own versions"
    );
    drop(snap);
    let mut batch = WriteBatch::new();
    batch.delete_range("p", b"a".to_vec(), b"f".to_vec());
    b.write(batch).unwrap();
    assert_eq!(all(b), vec![None, None, None]);
    b.compact().unwrap();
    assert_eq!(all(b), vec![None, None, None]);
}

fn empty_keys_and_values_round_trip(b: &dyn StorageBackend) {
    b.create_partition("p").unwrap();
    let mut batch = WriteBatch::new();
    batch.put("p", vec![], vec![]);
    batch.put("p", vec![0], vec![0; 3]);
    b.write(batch).unwrap();
    assert_eq!(b.get("p", &[]).unwrap(), Some(vec![]));
    assert_eq!(
        keys(b.scan("p", &KeyRange::all(), Direction::Forward).unwrap()),
        vec![vec![], vec![0]]
    );
}

/// The borrowed walk and the owned scan agree on every range, direction and stopping point,
/// on the backend and on a snapshot.
fn visit_agrees_with_scan(b: &dyn StorageBackend) {
    filled(b);
    let ranges = [
        KeyRange::all(),
        KeyRange::prefix(b"b"),
        KeyRange::new(
            Bound::Excluded(b"b".to_vec()),
            Bound::Included(b"d\xff".to_vec()),
        ),
        KeyRange::new(
            Bound::Included(b"d".to_vec()),
            Bound::Excluded(b"c".to_vec()),
        ),
        KeyRange::new(Bound::Included(b"zz".to_vec()), Bound::Unbounded),
    ];
    let snapshot = b.snapshot();
    for view in [b as &dyn ReadView, &*snapshot] {
        for range in &ranges {
            for direction in [Direction::Forward, Direction::Reverse] {
                let scanned: Vec<KvPair> = view
                    .scan("p", range, direction)
                    .unwrap()
                    .map(|r| r.unwrap())
                    .collect();
                for stop_after in [0, 1, usize::MAX] {
                    let mut visited = Vec::new();
                    view.visit("p", range, direction, &mut |k, v| {
                        visited.push((k.to_vec(), v.to_vec()));
                        visited.len() < stop_after
                    })
                    .unwrap();
                    let expected: Vec<KvPair> =
                        scanned.iter().take(stop_after.max(1)).cloned().collect();
                    assert_eq!(visited, expected, "{range:?} {direction:?} {stop_after}");
                }
            }
        }
    }
    assert!(matches!(
        b.visit("nope", &KeyRange::all(), Direction::Forward, &mut |_, _| {
            true
        }),
        Err(KvError::UnknownPartition(_))
    ));
}

fn skipping_visits_jump_like_a_narrowed_scan(b: &dyn StorageBackend) {
    filled(b);
    let ranges = [
        KeyRange::all(),
        KeyRange::new(
            Bound::Excluded(b"a".to_vec()),
            Bound::Included(b"d\xff".to_vec()),
        ),
    ];
    let targets: [&[u8]; 7] = [b"", b"0", b"b", b"b\0", b"c\0", b"d\xff", b"zz"];
    let snapshot = b.snapshot();
    for view in [b as &dyn ReadView, &*snapshot] {
        for range in &ranges {
            for direction in [Direction::Forward, Direction::Reverse] {
                let scanned: Vec<Vec<u8>> = keys(view.scan("p", range, direction).unwrap());
                for target in targets {
                    // One jump after the first key: then every key of the range at or after
                    // the target (forward), or before it (reverse), in walk order.
                    let mut visited: Vec<Vec<u8>> = Vec::new();
                    view.visit_skipping("p", range, direction, &mut |k, v| {
                        assert_eq!(k, v);
                        visited.push(k.to_vec());
                        if visited.len() == 1 {
                            Step::Seek(target.to_vec())
                        } else {
                            Step::Next
                        }
                    })
                    .unwrap();
                    let mut expected: Vec<Vec<u8>> = scanned.iter().take(1).cloned().collect();
                    expected.extend(
                        scanned
                            .iter()
                            .filter(|k| match direction {
                                Direction::Forward => k.as_slice() >= target,
                                Direction::Reverse => k.as_slice() < target,
                            })
                            .cloned(),
                    );
                    assert_eq!(visited, expected, "{range:?} {direction:?} {target:?}");
                }
            }
        }
        // A skip scan over first bytes: one key per distinct first byte, then a stop.
        for (direction, expected) in [
            (
                Direction::Forward,
                vec![&b"a"[..], b"b", b"c", b"d\xff", b"e"],
            ),
            (
                Direction::Reverse,
                vec![&b"e"[..], b"d\xff", b"c", b"b\0", b"a"],
            ),
        ] {
            let mut visited: Vec<Vec<u8>> = Vec::new();
            view.visit_skipping("p", &KeyRange::all(), direction, &mut |k, _| {
                visited.push(k.to_vec());
                if visited.len() == 4 && direction == Direction::Reverse {
                    // Stop ends the walk even with keys left.
                    return Step::Stop;
                }
                match direction {
                    Direction::Forward => Step::Seek(vec![k[0] + 1]),
                    Direction::Reverse => Step::Seek(vec![k[0]]),
                }
            })
            .unwrap();
            let expected: Vec<Vec<u8>> = match direction {
                Direction::Forward => expected.iter().map(|k| k.to_vec()).collect(),
                Direction::Reverse => expected.iter().take(4).map(|k| k.to_vec()).collect(),
            };
            assert_eq!(visited, expected, "{direction:?}");
        }
    }
    assert!(matches!(
        b.visit_skipping("nope", &KeyRange::all(), Direction::Forward, &mut |_, _| {
            Step::Next
        }),
        Err(KvError::UnknownPartition(_))
    ));
}

fn visit_many_agrees_with_multi_get(b: &dyn StorageBackend) {
    filled(b);
    let keys = vec![b"c".to_vec(), b"zz".to_vec(), b"a".to_vec(), b"e".to_vec()];
    let expected = b.multi_get("p", &keys).unwrap();
    let mut got = vec![None; keys.len()];
    let slices: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
    b.visit_many("p", &slices, &mut |i, v| got[i] = v.map(<[u8]>::to_vec))
        .unwrap();
    assert_eq!(got, expected);
    assert_eq!(got[1], None);
    assert!(b.visit_many("nope", &slices, &mut |_, _| {}).is_err());
}

/// Counters ([`WriteBatch::add`]) sum every add, in a batch and across batches and
/// threads, start from 0, are replaced by a put and removed by a delete like any value, and
/// keep their sum through a flush and a compaction (where RocksDB folds merge operands).
fn counters_sum_every_add(b: &dyn StorageBackend) {
    b.create_partition("n").unwrap();
    let counter = |b: &dyn StorageBackend, key: &[u8]| {
        b.get("n", key)
            .unwrap()
            .map(|raw| kv_store::decode_counter(&raw).unwrap())
    };
    let mut batch = WriteBatch::new();
    batch.add("n", b"a".to_vec(), 3);
    batch.add("n", b"a".to_vec(), -1);
    batch.add("n", b"b".to_vec(), -4);
    b.write(batch).unwrap();
    assert_eq!(counter(b, b"a"), Some(2));
    assert_eq!(counter(b, b"b"), Some(-4));
    assert_eq!(counter(b, b"c"), None);

    let before = b.snapshot();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..250 {
                    let mut batch = WriteBatch::new();
                    batch.add("n", b"a".to_vec(), 2);
                    b.write(batch).unwrap();
                }
            });
        }
    });
    assert_eq!(counter(b, b"a"), Some(2002));
    assert_eq!(
        before.get("n", b"a").unwrap(),
        Some(2i64.to_le_bytes().to_vec()),
        "a snapshot does not see later adds"
    );
    drop(before);

    let mut batch = WriteBatch::new();
    batch.put("n", b"b".to_vec(), 10i64.to_le_bytes().to_vec());
    batch.add("n", b"b".to_vec(), 1);
    batch.add("n", b"c".to_vec(), 5);
    batch.delete("n", b"c".to_vec());
    b.write(batch).unwrap();
    assert_eq!(counter(b, b"b"), Some(11));
    assert_eq!(counter(b, b"c"), None);

    b.flush().unwrap();
    b.compact().unwrap();
    let mut batch = WriteBatch::new();
    batch.add("n", b"a".to_vec(), -2002);
    b.write(batch).unwrap();
    let all: Vec<(Vec<u8>, Option<i64>)> = pairs(b, "n")
        .into_iter()
        .map(|(k, v)| (k, kv_store::decode_counter(&v)))
        .collect();
    assert_eq!(
        all,
        vec![(b"a".to_vec(), Some(0)), (b"b".to_vec(), Some(11))],
        "a walk reads summed counters, a counter at 0 included"
    );
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $( #[test] fn $case() { super::$case(&kv_store::MemoryBackend::new()); } )*
        }
        mod rocksdb {
            $( #[test] fn $case() {
                let dir = tempfile::tempdir().unwrap();
                super::$case(&kv_store::RocksBackend::open(dir.path()).unwrap());
            } )*
        }
        // Partitions declared scanned only have no Bloom filters; reads by key must still
        // answer the same.
        mod rocksdb_scanned_only {
            $( #[test] fn $case() {
                let dir = tempfile::tempdir().unwrap();
                let options = kv_store::RocksOptions {
                    scanned_only: |_| true,
                    ..Default::default()
                };
                super::$case(&kv_store::RocksBackend::open_with(dir.path(), options).unwrap());
            } )*
        }
        // Partitions declared to hold counters get their own options; every other read and
        // write must behave the same there.
        mod rocksdb_counters {
            $( #[test] fn $case() {
                let dir = tempfile::tempdir().unwrap();
                let options = kv_store::RocksOptions {
                    counters: |_| true,
                    ..Default::default()
                };
                super::$case(&kv_store::RocksBackend::open_with(dir.path(), options).unwrap());
            } )*
        }
    };
}

conformance!(
    counters_sum_every_add,
    partitions_are_created_on_demand_and_dropped,
    visit_agrees_with_scan,
    visit_many_agrees_with_multi_get,
    skipping_visits_jump_like_a_narrowed_scan,
    unknown_partition_is_an_error_for_every_operation,
    a_batch_with_an_unknown_partition_writes_nothing,
    batches_put_and_delete_across_partitions,
    multi_get_answers_in_key_order_given,
    scans_honour_bounds_in_both_directions,
    a_scan_stops_when_the_caller_stops,
    delete_range_removes_a_half_open_range,
    snapshots_do_not_see_later_writes,
    snapshots_are_shared_by_threads_at_one_point_in_time,
    changes_to_one_key_apply_in_batch_order,
    empty_keys_and_values_round_trip,
    reads_by_key_see_their_version_after_compaction,
);

/// A snapshot keeps the database open after the backend handle it came from is gone.
#[test]
fn rocksdb_snapshot_outlives_the_backend_handle() {
    let dir = tempfile::tempdir().unwrap();
    let backend = RocksBackend::open(dir.path()).unwrap();
    filled(&backend);
    let snap = backend.snapshot();
    drop(backend);
    assert_eq!(snap.get("p", b"a").unwrap(), Some(b"a".to_vec()));
}

#[test]
fn rocksdb_finds_its_partitions_again_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let b = RocksBackend::open(dir.path()).unwrap();
        b.create_partition("t/accounts").unwrap();
        b.create_partition("i/accounts/by_status").unwrap();
        let mut batch = WriteBatch::new();
        batch.put("t/accounts", b"k".to_vec(), b"v".to_vec());
        b.write(batch).unwrap();
    }
    let b = RocksBackend::open(dir.path()).unwrap();
    assert_eq!(
        b.partitions().unwrap(),
        vec!["i/accounts/by_status".to_string(), "t/accounts".to_string()]
    );
    assert_eq!(b.get("t/accounts", b"k").unwrap(), Some(b"v".to_vec()));
}

#[test]
fn memory_backend_is_usable_as_a_trait_object() {
    let b: Box<dyn StorageBackend> = Box::new(MemoryBackend::new());
    b.create_partition("p").unwrap();
    assert!(b.has_partition("p"));
}
