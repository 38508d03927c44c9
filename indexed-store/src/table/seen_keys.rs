//! The primary keys a bulk load into an empty table has written, kept as a scalable Bloom
//! filter: under 2 bytes a key, however long the keys, so a 10M-row import holds ~30 MB
//! for them with the segments' slack (a set of the keys themselves held 700 MB). A key the
//! filter has not seen is certainly new; one it may have seen (a repeat, or a false
//! positive, under one in a thousand) is read back from the store to be checked.
//!
//! Segments double in capacity as they fill, each with a false-positive rate of about
//! 7 in 10,000 (15 bits and 10 probes a key, double hashing over two 64-bit hashes): a
//! 10,000-row batch reads back a handful of keys, not all of them.

use std::hash::{BuildHasher, Hasher};

/// Keys the first segment holds; each next one holds twice as many.
const FIRST_CAPACITY: usize = 1 << 16;
/// Bits per key: a false-positive rate of 0.6185^15, about 7.4e-4.
const BITS_PER_KEY: usize = 15;
/// Probes per key: bits per key * ln 2.
const PROBES: u64 = 10;

/// A scalable Bloom filter of byte strings.
pub(crate) struct SeenKeys {
    segments: Vec<Segment>,
    first: std::collections::hash_map::RandomState,
    second: std::collections::hash_map::RandomState,
}

struct Segment {
    bits: Vec<u64>,
    capacity: usize,
    count: usize,
}

impl Segment {
    fn new(capacity: usize) -> Self {
        Segment {
            bits: vec![0; (capacity * BITS_PER_KEY).div_ceil(64)],
            capacity,
            count: 0,
        }
    }

    /// The word and bit of each probe of a key's hashes.
    fn positions(words: usize, (h1, h2): (u64, u64)) -> impl Iterator<Item = (usize, u64)> {
        let len = words as u64 * 64;
        (0..PROBES).map(move |i| {
            let bit = h1.wrapping_add(i.wrapping_mul(h2)) % len;
            ((bit / 64) as usize, 1u64 << (bit % 64))
        })
    }

    fn contains(&self, h: (u64, u64)) -> bool {
        Self::positions(self.bits.len(), h).all(|(w, m)| self.bits[w] & m != 0)
    }

    fn add(&mut self, h: (u64, u64)) {
        for (w, m) in Self::positions(self.bits.len(), h) {
            self.bits[w] |= m;
        }
        self.count += 1;
    }
}

impl SeenKeys {
    pub(crate) fn new() -> Self {
        SeenKeys {
            segments: Vec::new(),
            first: Default::default(),
            second: Default::default(),
        }
    }

    fn hashes(&self, key: &[u8]) -> (u64, u64) {
        let hash = |state: &std::collections::hash_map::RandomState| {
            let mut h = state.build_hasher();
            h.write(key);
            h.finish()
        };
        // An odd step visits distinct bits for every probe.
        (hash(&self.first), hash(&self.second) | 1)
    }

    /// Adds `key`; true when it may have been added before, false when it certainly was not.
    pub(crate) fn insert(&mut self, key: &[u8]) -> bool {
        let h = self.hashes(key);
        let maybe_seen = self.segments.iter().any(|s| s.contains(h));
        let full = self.segments.last().is_none_or(|s| s.count >= s.capacity);
        if full {
            let capacity = self
                .segments
                .last()
                .map_or(FIRST_CAPACITY, |s| s.capacity * 2);
            self.segments.push(Segment::new(capacity));
        }
        if let Some(last) = self.segments.last_mut() {
            last.add(h);
        }
        maybe_seen
    }
}

#[cfg(test)]
mod tests {
    use super::SeenKeys;

    #[test]
    fn every_repeat_is_caught_and_new_keys_rarely_look_seen() {
        let mut seen = SeenKeys::new();
        let n = 300_000u32;
        let mut false_positives = 0;
        for i in 0..n {
            false_positives += usize::from(seen.insert(&i.to_be_bytes()));
        }
        for i in 0..n {
            assert!(seen.insert(&i.to_be_bytes()), "{i} was added");
        }
        // About 7.4e-4 per segment (three segments here, fuller ones answer more): expect
        // a few hundred.
        assert!(false_positives <= 600, "{false_positives} false positives");
        assert!(
            false_positives > 0,
            "the rate is not zero: is every probe the same bit?"
        );
    }
}
