//! The record format (format 2, the row layout): the exact bytes below are the format, every
//! row survives a round trip, single columns read without the others, and no byte string
//! makes a reader panic.

use indexed_store::encoding::{
    encode_group, record_header, split_record, Group, HeaderError, RowRef, ValueRef, ROW_LAYOUT,
};
use indexed_store::Value;
use proptest::prelude::*;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn group(values: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_group(values, &mut out);
    out
}

#[test]
fn groups_are_the_documented_bytes() {
    let cases: Vec<(Vec<Value>, &str)> = vec![
        (vec![], "00000000"),
        (vec![Value::Null], "010000000100000000"),
        (
            vec![Value::Int(1), Value::Text("ab".into()), Value::Null],
            concat!(
                "03000000", // three values
                "09000000",
                "0c000000",
                "0d000000", // where each ends
                "03",
                "0100000000000000", // BIGINT 1
                "06",
                "6162", // TEXT 'ab'
                "00",   // NULL
            ),
        ),
        (
            vec![Value::Bool(false), Value::Bool(true), Value::Float(1.5)],
            concat!(
                "03000000",
                "01000000",
                "02000000",
                "0b000000",
                "01",
                "02",
                "04",
                "000000000000f83f",
            ),
        ),
        (
            vec![Value::Decimal(-150, 2)],
            concat!(
                "01000000",
                "12000000",
                "09", // DECIMAL -1.50: unscaled -150, little-endian, then scale 2
                "6affffffffffffffffffffffffffffff",
                "02",
            ),
        ),
        (
            vec![Value::Timestamp(-1), Value::Bytes(vec![0, 0xff])],
            concat!(
                "02000000",
                "09000000",
                "0c000000",
                "05",
                "ffffffffffffffff",
                "07",
                "00ff"
            ),
        ),
        (
            vec![Value::List(vec![Value::Int(7), Value::Null])],
            concat!(
                "01000000",
                "17000000",
                "08", // one LIST value: its tag and a 22-byte group
                "02000000",
                "09000000",
                "0a000000",
                "03",
                "0700000000000000",
                "00",
            ),
        ),
    ];
    for (values, want) in cases {
        assert_eq!(hex(&group(&values)), want, "{values:?}");
    }
}

#[test]
fn headers_are_the_documented_bytes() {
    let mut out = Vec::new();
    record_header(ROW_LAYOUT, None, &mut out);
    assert_eq!(hex(&out), "10");
    out.clear();
    record_header(ROW_LAYOUT, Some(1), &mut out);
    assert_eq!(hex(&out), "110100000000000000");
    out.clear();
    record_header(0, Some(-1), &mut out);
    assert_eq!(hex(&out), "01ffffffffffffffff");

    let parts = split_record(&[0x11, 1, 0, 0, 0, 0, 0, 0, 0, 0xAA]).unwrap();
    assert_eq!(
        (parts.layout, parts.expiry, parts.body),
        (1, Some(1), &[0xAA][..])
    );
}

#[test]
fn a_layout_from_a_newer_quiver_is_named_not_guessed() {
    assert_eq!(split_record(&[0x20]), Err(HeaderError::UnknownLayout(2)));
    assert!(matches!(
        split_record(&[0x02]),
        Err(HeaderError::Malformed(_))
    ));
    assert!(matches!(split_record(&[]), Err(HeaderError::Malformed(_))));
    assert!(matches!(
        split_record(&[0x11, 1, 2]),
        Err(HeaderError::Malformed(_))
    ));
}

#[test]
fn columns_past_the_end_of_a_row_read_as_null() {
    let bytes = group(&[Value::Int(1)]);
    let g = Group::parse(&bytes).unwrap();
    assert_eq!(g.get(0).unwrap(), ValueRef::Int(1));
    assert_eq!(g.get(5).unwrap(), ValueRef::Null);
    assert_eq!(RowRef::Stored(g).get(9).unwrap(), ValueRef::Null);
}

/// Regressions: each of these once could (or might) have panicked or read out of bounds.
#[test]
fn malformed_groups_are_errors() {
    let cases: &[&[u8]] = &[
        &[],
        &[1, 0, 0],
        &[0xff, 0xff, 0xff, 0xff],       // a count far beyond the bytes
        &[1, 0, 0, 0, 5, 0, 0, 0, 3],    // the value ends past the data
        &[1, 0, 0, 0, 0, 0, 0, 0],       // an empty value (no tag)
        &[1, 0, 0, 0, 2, 0, 0, 0, 3, 1], // a BIGINT of one byte
        &[1, 0, 0, 0, 3, 0, 0, 0, 6, 0xff, 0xfe], // TEXT that is not UTF-8
        &[1, 0, 0, 0, 1, 0, 0, 0, 0x99], // an unknown tag
        &[2, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0], // ends out of order
        &[1, 0, 0, 0, 5, 0, 0, 0, 8, 9, 0, 0, 0], // a list whose group is cut short
    ];
    for bytes in cases {
        let result = Group::parse(bytes).and_then(|g| g.to_values());
        assert!(result.is_err(), "{} decoded", hex(bytes));
    }
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<f64>()
            .prop_filter("NaN is not equal to itself", |f| !f.is_nan())
            .prop_map(Value::Float),
        ".{0,12}".prop_map(Value::Text),
        proptest::collection::vec(any::<u8>(), 0..12).prop_map(Value::Bytes),
        any::<i64>().prop_map(Value::Timestamp),
        (any::<i128>(), 0u8..=38).prop_map(|(v, s)| Value::Decimal(v, s)),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => scalar(),
        1 => proptest::collection::vec(scalar(), 0..5).prop_map(Value::List),
    ]
}

proptest! {
    #[test]
    fn every_row_round_trips(row in proptest::collection::vec(value(), 0..12)) {
        let bytes = group(&row);
        let g = Group::parse(&bytes).unwrap();
        prop_assert_eq!(g.to_values().unwrap(), row.clone());
        // Each column alone, without the others.
        for (i, v) in row.iter().enumerate() {
            prop_assert_eq!(g.get(i).unwrap().to_value().unwrap(), v.clone());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = split_record(&bytes);
        if let Ok(g) = Group::parse(&bytes) {
            for i in 0..g.len().min(64) {
                let _ = g.get(i).and_then(|v| v.to_value());
            }
        }
    }

    #[test]
    fn a_damaged_row_never_panics(row in proptest::collection::vec(value(), 1..6), at in any::<usize>(), byte in any::<u8>()) {
        let mut bytes = group(&row);
        let at = at % bytes.len();
        bytes[at] = byte;
        if let Ok(g) = Group::parse(&bytes) {
            for i in 0..g.len().min(16) {
                let _ = g.get(i).and_then(|v| v.to_value());
            }
        }
    }
}
