//! Index scans: equality prefix, range on the next column, both directions, limits that stop
//! the walk, IN-lists merged in order, counts from the index alone, distinct by skipping.

use std::ops::Bound;

use crate::common::*;
use indexed_store::{AccessPath, Value};

fn load(t: &TempStore) {
    let statuses = ["active", "pending", "rejected"];
    let rows: Vec<_> = (0..300)
        .map(|i| {
            account(
                &format!("acc-{i:04}"),
                statuses[i % 3],
                (i as i64 * 7) % 100,
            )
        })
        .collect();
    t.store.insert_many(rows).unwrap();
}

fn contacts(t: &TempStore, path: &AccessPath) -> Vec<i64> {
    let r = t.store.reader();
    r.records(path)
        .unwrap()
        .map(|x| x.unwrap().1.contacts_count)
        .collect()
}

#[test]
fn prefix_and_range_in_both_directions() {
    let t = temp_store();
    load(&t);
    let active = AccessPath::index("by_status_contacts").eq(vec![Value::Text("active".into())]);
    let ranged = active.clone().range(
        Bound::Included(Value::Int(10)),
        Bound::Excluded(Value::Int(20)),
    );
    let up = contacts(&t, &ranged);
    assert!(!up.is_empty());
    assert!(up.iter().all(|c| (10..20).contains(c)));
    assert!(up.windows(2).all(|w| w[0] <= w[1]));
    let mut down = contacts(&t, &ranged.clone().reverse());
    down.reverse();
    assert_eq!(up, down);

    // A float bound on an integer column.
    let above = contacts(
        &t,
        &active.clone().range(
            Bound::Excluded(Value::Float(98.5)),
            Bound::Excluded(Value::Null),
        ),
    );
    assert!(above.iter().all(|c| *c == 99) && !above.is_empty());
}

#[test]
fn a_limit_stops_early_and_takes_the_top() {
    let t = temp_store();
    load(&t);
    let top = contacts(
        &t,
        &AccessPath::index("by_status_contacts")
            .eq(vec![Value::Text("active".into())])
            .reverse()
            .limit(3),
    );
    let mut all = contacts(
        &t,
        &AccessPath::index("by_status_contacts").eq(vec![Value::Text("active".into())]),
    );
    all.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(top, all[..3].to_vec());
}

/// `visit_rows` over an index fetches records in batches that grow (64, 256, 1024, ...) and
/// must hand rows over in index order across batch boundaries, and stop where asked.
#[test]
fn rows_of_an_index_walk_keep_index_order_across_fetch_batches() {
    use indexed_store::ValueRef;
    let t = temp_store();
    let rows: Vec<_> = (0..2000)
        .map(|i| account(&format!("acc-{i:05}"), "active", (i as i64 * 7919) % 2000))
        .collect();
    t.store.insert_many(rows).unwrap();
    let path = AccessPath::index("by_status_contacts")
        .eq(vec![Value::Text("active".into())])
        .reverse();
    let walk = |stop_after: usize| {
        let mut seen = Vec::new();
        t.store
            .reader()
            .visit_rows(&path, &mut |row| {
                let ValueRef::Int(c) = row.get(2).unwrap() else {
                    panic!("contacts_count is a BIGINT");
                };
                seen.push(c);
                Ok(seen.len() < stop_after)
            })
            .unwrap();
        seen
    };
    let expected: Vec<i64> = (0..2000).rev().collect();
    assert_eq!(walk(usize::MAX), expected);
    assert_eq!(walk(300), expected[..300].to_vec());
}

#[test]
fn in_lists_merge_in_order_of_the_next_column() {
    let t = temp_store();
    load(&t);
    let path = AccessPath::index("by_status_contacts")
        .eq_any(vec![
            vec![Value::Text("rejected".into())],
            vec![Value::Text("active".into())],
        ])
        .limit(50);
    let got = contacts(&t, &path);
    assert_eq!(got.len(), 50);
    assert!(got.windows(2).all(|w| w[0] <= w[1]), "{got:?}");
}

#[test]
fn counts_come_from_the_index() {
    let t = temp_store();
    load(&t);
    let r = t.store.reader();
    assert_eq!(
        r.count(&AccessPath::index("by_status_contacts").eq(vec![Value::Text("pending".into())]))
            .unwrap(),
        100
    );
    assert_eq!(r.count(&AccessPath::primary()).unwrap(), 300);
    assert_eq!(
        r.count(&AccessPath::primary().starts_with("acc-00"))
            .unwrap(),
        100
    );
}

#[test]
fn distinct_skips_through_the_index() {
    let t = temp_store();
    load(&t);
    let r = t.store.reader();
    let d = r
        .distinct(&AccessPath::index("by_status_contacts"), 1)
        .unwrap();
    assert_eq!(
        d,
        vec![
            vec![Value::Text("active".into())],
            vec![Value::Text("pending".into())],
            vec![Value::Text("rejected".into())]
        ]
    );
    let d = r
        .distinct(
            &AccessPath::index("by_status_contacts").reverse().limit(1),
            1,
        )
        .unwrap();
    assert_eq!(d, vec![vec![Value::Text("rejected".into())]]);
}

#[test]
fn a_scan_reads_one_snapshot() {
    let t = temp_store();
    load(&t);
    let r = t.store.reader();
    let path = AccessPath::index("by_status_contacts").eq(vec![Value::Text("active".into())]);
    let mut it = r.records(&path).unwrap();
    let first = it.next().unwrap().unwrap().1;
    // Concurrent changes after the snapshot are invisible to the rest of the walk.
    for i in (0..300).step_by(3) {
        t.store.delete(&format!("acc-{i:04}")).unwrap();
    }
    assert_eq!(it.count() + 1, 100);
    assert_eq!(first.status, "active");
}
