//! Key ranges, normalised to the half-open form both backends iterate over.

use std::ops::Bound;

/// A range of keys: optional lower and upper bounds, each inclusive or exclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    /// Lower bound.
    pub lower: Bound<Vec<u8>>,
    /// Upper bound.
    pub upper: Bound<Vec<u8>>,
}

impl KeyRange {
    /// Every key of the partition.
    pub fn all() -> Self {
        KeyRange {
            lower: Bound::Unbounded,
            upper: Bound::Unbounded,
        }
    }

    /// Every key that starts with `prefix`.
    pub fn prefix(prefix: &[u8]) -> Self {
        let upper = match prefix_successor(prefix) {
            Some(s) => Bound::Excluded(s),
            None => Bound::Unbounded,
        };
        KeyRange {
            lower: Bound::Included(prefix.to_vec()),
            upper,
        }
    }

    /// A range from explicit bounds.
    pub fn new(lower: Bound<Vec<u8>>, upper: Bound<Vec<u8>>) -> Self {
        KeyRange { lower, upper }
    }

    /// The range cut at `points` (ascending, each inside the range): `points.len() + 1`
    /// consecutive ranges that together cover exactly this one.
    pub fn split_at(&self, points: Vec<Vec<u8>>) -> Vec<KeyRange> {
        let mut lower = self.lower.clone();
        let mut pieces: Vec<KeyRange> = points
            .into_iter()
            .map(|p| {
                let piece = KeyRange::new(lower.clone(), Bound::Excluded(p.clone()));
                lower = Bound::Included(p);
                piece
            })
            .collect();
        pieces.push(KeyRange::new(lower, self.upper.clone()));
        pieces
    }

    /// The same range as `[start, end)`: `start` inclusive (None: from the first key), `end`
    /// exclusive (None: to the last key). RocksDB's iterator bounds take exactly this form.
    pub fn half_open(&self) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
        // The byte strings right after `k` in lexicographic order are `k ++ [0]`, so an
        // exclusive lower bound or an inclusive upper bound becomes `k ++ [0]`.
        let start = match &self.lower {
            Bound::Unbounded => None,
            Bound::Included(k) => Some(k.clone()),
            Bound::Excluded(k) => Some(successor(k)),
        };
        let end = match &self.upper {
            Bound::Unbounded => None,
            Bound::Included(k) => Some(successor(k)),
            Bound::Excluded(k) => Some(k.clone()),
        };
        (start, end)
    }

    /// The keys in both ranges.
    pub fn intersect(&self, other: &KeyRange) -> KeyRange {
        let ((s1, e1), (s2, e2)) = (self.half_open(), other.half_open());
        let start = s1.max(s2);
        let end = match (e1, e2) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        KeyRange::new(
            start.map_or(Bound::Unbounded, Bound::Included),
            end.map_or(Bound::Unbounded, Bound::Excluded),
        )
    }

    /// True when the range cannot contain any key.
    pub fn is_empty(&self) -> bool {
        match self.half_open() {
            (Some(s), Some(e)) => s >= e,
            _ => false,
        }
    }

    /// True when `key` lies inside the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        let (start, end) = self.half_open();
        start.is_none_or(|s| key >= s.as_slice()) && end.is_none_or(|e| key < e.as_slice())
    }
}

/// The smallest key greater than `key`.
pub fn successor(key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 1);
    k.extend_from_slice(key);
    k.push(0);
    k
}

/// The smallest key greater than every key that starts with `prefix`, or None when no such
/// key exists (the prefix is empty or all 0xFF).
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut k = prefix.to_vec();
    while let Some(last) = k.pop() {
        if last < 0xFF {
            k.push(last + 1);
            return Some(k);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_successor_carries_over_ff() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(&[0x01, 0xFF]), Some(vec![0x02]));
        assert_eq!(prefix_successor(&[0xFF, 0xFF]), None);
        assert_eq!(prefix_successor(&[]), None);
    }

    #[test]
    fn intersect_keeps_the_keys_in_both() {
        let a = KeyRange::prefix(b"a");
        let b = KeyRange::new(Bound::Excluded(b"ab".to_vec()), Bound::Unbounded);
        let both = a.intersect(&b);
        for (key, inside) in [
            (&b"a"[..], false),
            (b"ab", false),
            (b"ab\0", true),
            (b"az", true),
            (b"b", false),
        ] {
            assert_eq!(both.contains(key), inside, "{key:?}");
        }
        assert!(KeyRange::prefix(b"a")
            .intersect(&KeyRange::prefix(b"b"))
            .is_empty());
        assert_eq!(KeyRange::all().intersect(&KeyRange::all()), KeyRange::all());
    }

    #[test]
    fn half_open_turns_bounds_into_start_and_end() {
        let r = KeyRange::new(
            Bound::Excluded(b"a".to_vec()),
            Bound::Included(b"c".to_vec()),
        );
        assert_eq!(
            r.half_open(),
            (Some(b"a\0".to_vec()), Some(b"c\0".to_vec()))
        );
        assert!(!r.contains(b"a"));
        assert!(r.contains(b"a\0"));
        assert!(r.contains(b"c"));
        assert!(!r.contains(b"c\0"));
    }

    #[test]
    fn prefix_range_holds_exactly_the_prefixed_keys() {
        let r = KeyRange::prefix(&[0x01, 0xFF]);
        assert!(r.contains(&[0x01, 0xFF]));
        assert!(r.contains(&[0x01, 0xFF, 0xFF, 0x00]));
        assert!(!r.contains(&[0x02]));
        assert!(!r.contains(&[0x01, 0xFE, 0xFF]));
    }
}

/// A key between `a` and `b` (a < b) splitting the space between them roughly in half, by
/// treating both as big-endian fractions; None when they are too close to split.
pub fn midpoint(a: &[u8], b: &[u8]) -> Option<Vec<u8>> {
    let len = a.len().max(b.len()) + 1;
    let pad = |k: &[u8]| {
        let mut v = k.to_vec();
        v.resize(len, 0);
        v
    };
    let (x, y) = (pad(a), pad(b));
    // (x + y) / 2, byte by byte from the most significant end.
    let mut sum = vec![0u16; len + 1];
    let mut carry = 0u16;
    for i in (0..len).rev() {
        let s = x[i] as u16 + y[i] as u16 + carry;
        sum[i + 1] = s & 0xFF;
        carry = s >> 8;
    }
    sum[0] = carry;
    let mut half = vec![0u8; len];
    let mut rem = 0u16;
    for i in 0..=len {
        let cur = (rem << 8) | sum[i];
        if i > 0 {
            half[i - 1] = (cur >> 1) as u8;
        }
        rem = cur & 1;
    }
    while half.last() == Some(&0) {
        half.pop();
    }
    (half.as_slice() > a && half.as_slice() < b).then_some(half)
}

#[cfg(test)]
mod midpoint_tests {
    use super::midpoint;

    #[test]
    fn midpoint_lies_strictly_between() {
        let m = midpoint(b"acc-00000000", b"acc-00999999").unwrap();
        assert!(
            m.as_slice() > b"acc-00000000".as_slice() && m.as_slice() < b"acc-00999999".as_slice()
        );
        assert!(
            m.as_slice() > b"acc-004".as_slice() && m.as_slice() < b"acc-006".as_slice(),
            "{m:?}"
        );
        assert_eq!(midpoint(b"a", b"a"), None);
    }
}
