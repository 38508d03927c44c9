//! The key codec: byte order is value order, prefixes encode to prefixes, and the exact
//! bytes below are the format (changing them breaks every existing database).

use indexed_store::encoding::KeyValue;
use indexed_store::encoding::{
    compare, decode_key, encode_key, encode_key_and_lead, encode_value, text_prefix, KeyReader,
    SortOrder,
};
use indexed_store::{Value, ValueRef};
use proptest::prelude::*;

/// Scans decode ascending text without escapes in place; only escaped or descending values
/// are copied.
#[test]
fn plain_ascending_text_is_read_in_place() {
    let asc = [SortOrder::Asc, SortOrder::Asc, SortOrder::Asc];
    let key = encode_key(
        &[
            Value::Text("abc".into()),
            Value::Text("a\0b".into()),
            Value::Bytes(vec![1, 2]),
        ],
        &asc,
    );
    let mut r = KeyReader::new(&key);
    assert_eq!(
        r.read_ref(SortOrder::Asc).unwrap(),
        KeyValue::Borrowed(ValueRef::Text("abc"))
    );
    assert_eq!(
        r.read_ref(SortOrder::Asc).unwrap(),
        KeyValue::Owned(Value::Text("a\0b".into()))
    );
    assert_eq!(
        r.read_ref(SortOrder::Asc).unwrap(),
        KeyValue::Borrowed(ValueRef::Bytes(&[1, 2]))
    );
    assert!(r.is_empty());
    let key = encode_key(&[Value::Text("abc".into())], &[SortOrder::Desc]);
    assert_eq!(
        KeyReader::new(&key).read_ref(SortOrder::Desc).unwrap(),
        KeyValue::Owned(Value::Text("abc".into()))
    );
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn enc(v: Value) -> String {
    hex(&encode_key(&[v], &[]))
}

#[test]
fn encodings_are_the_documented_bytes() {
    let cases = [
        (Value::Bool(false), "1000"),
        (Value::Bool(true), "1001"),
        (Value::Int(0), "2080000000000000008000"),
        (Value::Float(0.0), "2080000000000000008000"),
        (Value::Float(-0.0), "2080000000000000008000"),
        (Value::Int(1), "20bff00000000000008000"),
        (Value::Int(-1), "20400fffffffffffff8000"),
        (Value::Float(f64::INFINITY), "20fff00000000000008000"),
        (Value::Float(f64::NAN), "20fff80000000000008000"),
        (Value::Int(i64::MAX), "20c3e00000000000007fff"),
        (Value::Timestamp(0), "308000000000000000"),
        (
            Value::Decimal(-1, 2),
            "227fffffffffffffffffffffffffffffff02",
        ),
        (Value::Text(String::new()), "400000"),
        (Value::Text("a\0b".into()), "406100ff620000"),
        (Value::Bytes(vec![0, 0xFF]), "5000ffff0000"),
        (Value::List(vec![Value::Bool(true)]), "60100100"),
        (Value::Null, "f0"),
    ];
    for (v, want) in cases {
        assert_eq!(enc(v.clone()), want, "{v:?}");
    }
}

#[test]
fn integers_and_floats_of_one_value_encode_alike() {
    for i in [0i64, 1, -1, 100_000, 1 << 52, -(1 << 53)] {
        assert_eq!(enc(Value::Int(i)), enc(Value::Float(i as f64)), "{i}");
    }
    // Beyond 2^53 neighbours stay distinct and ordered.
    let big = 1i64 << 60;
    assert!(encode_key(&[Value::Int(big)], &[]) < encode_key(&[Value::Int(big + 1)], &[]));
    assert!(
        encode_key(&[Value::Int(i64::MAX - 1)], &[]) < encode_key(&[Value::Int(i64::MAX)], &[])
    );
    assert!(
        encode_key(&[Value::Int(i64::MIN)], &[]) < encode_key(&[Value::Int(i64::MIN + 1)], &[])
    );
}

#[test]
fn descending_inverts_order_and_puts_null_first() {
    let d = |v: Value| encode_key(&[v], &[SortOrder::Desc]);
    assert!(d(Value::Int(2)) < d(Value::Int(1)));
    assert!(d(Value::Null) < d(Value::Int(i64::MAX)));
    assert!(d(Value::Text("b".into())) < d(Value::Text("a".into())));
    assert!(d(Value::Text("ab".into())) < d(Value::Text("a".into())));
}

#[test]
fn keys_decode_back_in_either_order() {
    let values = vec![
        Value::Text("x\0y".into()),
        Value::Int(-42),
        Value::Null,
        Value::Bytes(vec![0, 1, 0xFF]),
        Value::Timestamp(-5),
        Value::List(vec![Value::Text("a".into()), Value::Text("".into())]),
        Value::Bool(true),
    ];
    for order in [SortOrder::Asc, SortOrder::Desc] {
        let orders = vec![order; values.len()];
        let key = encode_key(&values, &orders);
        let decoded = decode_key(&key, &orders).unwrap();
        // -42 comes back as a float (numbers share one encoding); everything else as given.
        assert_eq!(decoded[1], Value::Float(-42.0));
        assert_eq!(decoded[0], values[0]);
        assert_eq!(decoded[2..], values[2..]);
    }
}

#[test]
fn malformed_keys_are_errors_not_panics() {
    for bad in [
        vec![0x20, 1, 2],
        vec![0x40, b'a'],
        vec![0x07],
        vec![0x40, 0, 7],
        vec![0x60, 0x10],
        // Found by the proptest below: a huge float with an integer remainder overflowed.
        vec![0x20, 0xC7, 0xE0, 0, 0, 0, 0, 0, 0, 0x80, 0x01],
    ] {
        assert!(decode_key(&bad, &[SortOrder::Asc]).is_err(), "{bad:?}");
    }
    assert!(
        decode_key(&[0x40, 0xC3, 0x28, 0, 0], &[SortOrder::Asc]).is_err(),
        "invalid UTF-8"
    );
}

#[test]
fn text_prefix_bounds_exactly_the_strings_with_that_prefix() {
    let p = text_prefix("ab", SortOrder::Asc);
    for (s, inside) in [
        ("ab", true),
        ("abc", true),
        ("ab\0", true),
        ("a", false),
        ("b", false),
        ("aa", false),
    ] {
        assert_eq!(
            encode_key(&[Value::Text(s.into())], &[]).starts_with(&p),
            inside,
            "{s}"
        );
    }
    let pd = text_prefix("ab", SortOrder::Desc);
    assert!(encode_key(&[Value::Text("abz".into())], &[SortOrder::Desc]).starts_with(&pd));
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(-0.0),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY)
        ]
        .prop_map(Value::Float),
        any::<i64>().prop_map(Value::Timestamp),
        ".{0,8}".prop_map(Value::Text),
        proptest::collection::vec(any::<u8>(), 0..8).prop_map(Value::Bytes),
    ]
}

/// Value order the codec must reproduce, written independently of it: type rank, then value.
fn model_cmp(a: &Value, b: &Value) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Bool(_) => 0,
            Value::Int(_) | Value::Float(_) => 1,
            // Not generated here: a decimal shares no column with other numbers (see
            // `decimal_order_is_exact`).
            Value::Decimal(..) => 2,
            Value::Timestamp(_) => 3,
            Value::Text(_) => 4,
            Value::Bytes(_) => 5,
            Value::List(_) => 6,
            Value::Null => 7,
        }
    }
    fn num(v: &Value) -> (f64, i128) {
        match v {
            Value::Int(i) => (*i as f64, *i as i128 - (*i as f64) as i128),
            Value::Float(f) => (if f.is_nan() { f64::NAN } else { *f }, 0),
            _ => unreachable!(),
        }
    }
    match rank(a).cmp(&rank(b)) {
        Equal => {}
        o => return o,
    }
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Timestamp(x), Value::Timestamp(y)) => x.cmp(y),
        (Value::Text(x), Value::Text(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Bytes(x), Value::Bytes(y)) => x.cmp(y),
        (Value::Null, Value::Null) => Equal,
        _ => {
            let ((fa, ra), (fb, rb)) = (num(a), num(b));
            // NaN above everything, -0 == 0.
            let c = match (fa.is_nan(), fb.is_nan()) {
                (true, true) => Equal,
                (true, false) => Greater,
                (false, true) => Less,
                _ => fa.partial_cmp(&fb).unwrap(),
            };
            c.then(ra.cmp(&rb))
        }
    }
}

proptest! {
    #[test]
    fn byte_order_is_value_order(a in scalar(), b in scalar()) {
        let (ea, eb) = (encode_key(std::slice::from_ref(&a), &[]), encode_key(std::slice::from_ref(&b), &[]));
        prop_assert_eq!(ea.cmp(&eb), model_cmp(&a, &b));
        prop_assert_eq!(compare(&a, &b), model_cmp(&a, &b));
        let (da, db) = (encode_key(std::slice::from_ref(&a), &[SortOrder::Desc]), encode_key(std::slice::from_ref(&b), &[SortOrder::Desc]));
        prop_assert_eq!(da.cmp(&db), model_cmp(&a, &b).reverse());
    }

    #[test]
    fn tuples_compare_column_by_column(a in proptest::collection::vec(scalar(), 1..4), b in proptest::collection::vec(scalar(), 1..4), desc in any::<bool>()) {
        let order = if desc { SortOrder::Desc } else { SortOrder::Asc };
        let orders = vec![order, SortOrder::Asc, SortOrder::Desc, SortOrder::Asc];
        let (ea, eb) = (encode_key(&a, &orders), encode_key(&b, &orders));
        let mut want = std::cmp::Ordering::Equal;
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            let c = model_cmp(x, y);
            let c = if orders[i].is_desc() { c.reverse() } else { c };
            if c.is_ne() { want = c; break; }
        }
        if want.is_eq() { want = a.len().cmp(&b.len()); }
        prop_assert_eq!(ea.cmp(&eb), want);
    }

    /// The lead (a per-value counter's key) is the encoding of the first value alone.
    #[test]
    fn the_lead_is_the_first_value_encoded(values in proptest::collection::vec(scalar(), 1..4), desc in any::<bool>()) {
        let orders = vec![if desc { SortOrder::Desc } else { SortOrder::Asc }, SortOrder::Asc, SortOrder::Desc];
        let (key, lead) = encode_key_and_lead(&values, &orders);
        prop_assert_eq!(&key, &encode_key(&values, &orders));
        let first = encode_key(&values[..1], &orders[..1]);
        prop_assert_eq!(&key[..lead], first.as_slice());
    }

    #[test]
    fn a_tuple_prefix_encodes_to_a_byte_prefix(values in proptest::collection::vec(scalar(), 0..5), cut in 0usize..5) {
        let cut = cut.min(values.len());
        let orders = [SortOrder::Desc, SortOrder::Asc, SortOrder::Desc, SortOrder::Asc, SortOrder::Asc];
        let whole = encode_key(&values, &orders);
        let prefix = encode_key(&values[..cut], &orders);
        prop_assert!(whole.starts_with(&prefix));
        // And every value can be skipped back out of it.
        let mut r = KeyReader::new(&whole);
        for o in &orders[..values.len()] { r.skip(*o).unwrap(); }
        prop_assert!(r.is_empty());
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..32)) {
        let _ = decode_key(&bytes, &[SortOrder::Asc, SortOrder::Desc]);
        let mut out = Vec::new();
        encode_value(&mut out, &Value::Bytes(bytes.clone()), SortOrder::Desc);
        prop_assert_eq!(decode_key(&out, &[SortOrder::Desc]).unwrap(), vec![Value::Bytes(bytes)]);
    }

    /// Reading in place answers exactly what decoding answers, and leaves the reader at the
    /// same place, for every value in either order (escaped text included).
    #[test]
    fn reading_in_place_matches_decoding(values in proptest::collection::vec(scalar(), 1..4), desc in any::<bool>(), text in "[a\\x00b]{0,6}") {
        let order = if desc { SortOrder::Desc } else { SortOrder::Asc };
        let mut values = values;
        values.push(Value::Text(text));
        let orders = vec![order; values.len()];
        let key = encode_key(&values, &orders);
        let (mut a, mut b) = (KeyReader::new(&key), KeyReader::new(&key));
        for o in &orders {
            let decoded = a.read(*o).unwrap();
            let in_place = b.read_ref(*o).unwrap();
            // Compared as encoded bytes: NaN is not equal to itself.
            let in_place = in_place.as_ref().to_value().unwrap();
            prop_assert_eq!(encode_key(&[in_place], &[]), encode_key(&[decoded], &[]));
            prop_assert_eq!(a.position(), b.position());
        }
    }

    #[test]
    fn reading_arbitrary_bytes_in_place_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..32)) {
        let mut r = KeyReader::new(&bytes);
        let _ = r.read_ref(SortOrder::Asc);
        let _ = r.read_ref(SortOrder::Desc);
    }
}

/// DATE, TIMESTAMPTZ, UUID and JSON columns are stored in the encodings above (see the codec
/// module doc); these are the bytes a value of each becomes, written as its column takes it.
#[test]
fn the_other_column_types_encode_as_documented() {
    use indexed_store::{ColumnType, MICROS_PER_DAY};
    let stored = |v: Value, ty: ColumnType| enc(v.coerce_to(&ty).expect("fits"));
    // 1970-01-02, a day after the epoch: the TIMESTAMP of its midnight.
    assert_eq!(
        stored(Value::Timestamp(MICROS_PER_DAY), ColumnType::Date),
        "30800000141dd76000"
    );
    assert_eq!(
        stored(Value::Timestamp(1), ColumnType::TimestampTz),
        "308000000000000001"
    );
    assert_eq!(
        stored(
            Value::Text("00000000-0000-4000-8000-0000000000ff".into()),
            ColumnType::Uuid
        ),
        "5000ff00ff00ff00ff00ff00ff4000ff8000ff00ff00ff00ff00ff00ffff0000"
    );
    assert_eq!(
        stored(Value::Text("[1]".into()), ColumnType::Json),
        "405b315d0000"
    );
    // A DATE holds midnights only; JSON only text that parses; a UUID only 16 bytes.
    assert_eq!(Value::Timestamp(1).coerce_to(&ColumnType::Date), None);
    assert_eq!(Value::Text("{".into()).coerce_to(&ColumnType::Json), None);
    assert_eq!(Value::Bytes(vec![1; 15]).coerce_to(&ColumnType::Uuid), None);
}

proptest! {
    /// Decimals of one column (one scale) keep their exact order, also where a double could
    /// not tell them apart; they read back exactly.
    #[test]
    fn decimal_order_is_exact(a in any::<i128>(), b in any::<i128>(), scale in 0u8..=38, desc in any::<bool>()) {
        let order = if desc { SortOrder::Desc } else { SortOrder::Asc };
        let key = |v: i128| encode_key(&[Value::Decimal(v, scale)], &[order]);
        let want = if desc { a.cmp(&b).reverse() } else { a.cmp(&b) };
        prop_assert_eq!(key(a).cmp(&key(b)), want);
        prop_assert_eq!(decode_key(&key(a), &[order]).unwrap(), vec![Value::Decimal(a, scale)]);
    }

    /// Dates (as their midnights, before and after 1970) keep their order in the index.
    #[test]
    fn date_order_is_day_order(a in -1_000_000i64..1_000_000, b in -1_000_000i64..1_000_000) {
        use indexed_store::{ColumnType, MICROS_PER_DAY};
        let key = |d: i64| {
            let v = Value::Timestamp(d * MICROS_PER_DAY).coerce_to(&ColumnType::Date).unwrap();
            encode_key(&[v], &[])
        };
        prop_assert_eq!(key(a).cmp(&key(b)), a.cmp(&b));
    }

    /// A UUID's index order is the order of its canonical text, which is how SQL compares
    /// the column (its Arrow type is text): an index range on it finds what a filter would.
    #[test]
    fn uuid_order_is_canonical_text_order(a in any::<[u8; 16]>(), b in any::<[u8; 16]>()) {
        use indexed_store::ColumnType;
        let text = |u: [u8; 16]| uuid::Uuid::from_bytes(u).hyphenated().to_string();
        let key = |u: [u8; 16]| {
            let v = Value::Text(text(u)).coerce_to(&ColumnType::Uuid).unwrap();
            encode_key(&[v], &[])
        };
        prop_assert_eq!(key(a).cmp(&key(b)), text(a).cmp(&text(b)));
    }
}
