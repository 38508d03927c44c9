//! Several ordered walks (one per equality prefix of an IN-list) merged into one, in path
//! order, on the bytes after each walk's prefix.

use kv_store::{Direction, KvIter, KvPair};

/// Merges several ordered walks on the bytes after each walk's prefix.
pub(super) struct Merge<'a> {
    pub(super) walks: Vec<(usize, KvIter<'a>, Option<KvPair>)>,
    pub(super) direction: Direction,
}

impl Iterator for Merge<'_> {
    type Item = kv_store::KvResult<KvPair>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut best: Option<usize> = None;
        for i in 0..self.walks.len() {
            if self.walks[i].2.is_none() {
                match self.walks[i].1.next() {
                    Some(Ok(kv)) => self.walks[i].2 = Some(kv),
                    Some(Err(e)) => return Some(Err(e)),
                    None => continue,
                }
            }
            let (skip, _, Some((key, _))) = &self.walks[i] else {
                continue;
            };
            if let Some(b) = best {
                let (bskip, _, Some((bkey, _))) = &self.walks[b] else {
                    continue;
                };
                let ord = key[*skip..].cmp(&bkey[*bskip..]);
                let better = match self.direction {
                    Direction::Forward => ord.is_lt(),
                    Direction::Reverse => ord.is_gt(),
                };
                if better {
                    best = Some(i);
                }
            } else {
                best = Some(i);
            }
        }
        best.and_then(|b| self.walks[b].2.take()).map(Ok)
    }
}
