//! Persistent views: a view is a name for a SELECT, kept in the catalog as its SQL text with
//! the tables and views it reads, and planned as that SELECT wherever it is named (by the
//! SQL layer; the store only keeps and checks the definitions).
//!
//! # Format
//!
//! Catalog key `view/<stored name>` (`<namespace>.<view>` outside the default namespace);
//! value: format version (u32, little-endian, [`VIEW_FORMAT`]) followed by the bincode of
//! [`ViewDefinition`]. A version newer than this build's is refused when the database opens.

use serde::{Deserialize, Serialize};

use crate::encoding::{from_bytes, to_bytes};
use crate::error::{StoreError, StoreResult};

/// The layout of a stored view definition.
pub const VIEW_FORMAT: u32 = 1;

/// A view as the catalog keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewDefinition {
    /// Stored name (`<namespace>.<view>`, or `<view>` in the default namespace).
    pub name: String,
    /// The SELECT, as SQL text, resolved against the view's namespace.
    pub sql: String,
    /// Stored names of the tables and views the SELECT reads.
    pub depends_on: Vec<String>,
}

impl ViewDefinition {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = VIEW_FORMAT.to_le_bytes().to_vec();
        to_bytes(self, &mut out);
        out
    }

    pub(crate) fn decode(raw: &[u8], partition: &str) -> StoreResult<Self> {
        let Some((version, body)) = raw.split_first_chunk::<4>() else {
            return Err(StoreError::Corrupt {
                partition: partition.into(),
                reason: "a view definition shorter than its format version".into(),
            });
        };
        let found = u32::from_le_bytes(*version);
        if found != VIEW_FORMAT {
            return Err(StoreError::UnsupportedFormat {
                what: "a view definition".into(),
                found,
                supported: VIEW_FORMAT,
            });
        }
        from_bytes(body, partition)
    }
}

/// The views among `views` that use `name`, directly or through other views, nearest first.
pub(crate) fn dependents<'a>(
    views: impl Iterator<Item = &'a ViewDefinition> + Clone,
    name: &str,
) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut frontier = vec![name.to_owned()];
    while let Some(n) = frontier.pop() {
        for v in views.clone() {
            if v.depends_on.contains(&n) && !found.contains(&v.name) {
                found.push(v.name.clone());
                frontier.push(v.name.clone());
            }
        }
    }
    found
}

/// The view through which `view`'s new definition would reach `view` itself, read through
/// the other views of `views` as they are (None: no cycle).
pub(crate) fn cycle_through<'a>(
    views: impl Iterator<Item = &'a ViewDefinition> + Clone,
    view: &ViewDefinition,
) -> Option<String> {
    let others = views.filter(|v| v.name != view.name);
    let mut reached: Vec<String> = Vec::new();
    let mut frontier = view.depends_on.clone();
    while let Some(n) = frontier.pop() {
        if n == view.name {
            return Some(reached.last().cloned().unwrap_or(n));
        }
        if reached.contains(&n) {
            continue;
        }
        if let Some(v) = others.clone().find(|v| v.name == n) {
            frontier.extend(v.depends_on.iter().cloned());
        }
        reached.push(n);
    }
    None
}
