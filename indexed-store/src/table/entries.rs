//! The index entries of a record: for each index (a partial index only when its condition
//! holds), one entry per combination of its values' list elements, keyed by the values
//! (unique: by the values alone when none is NULL, the claim) and the primary key.

use std::collections::HashSet;

use crate::encoding::{encode_key_and_lead, encode_value, EntryPayload, Value};
use crate::schema::TableDefinition;

/// One index entry of a record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    /// Position of the index in the definition.
    pub index: usize,
    pub key: Vec<u8>,
    /// The length of the key's leading value (its counter's key: `key[..lead]`).
    pub lead: usize,
    pub value: Vec<u8>,
    /// A unique entry keyed by its values alone (no NULL among them): the key is the claim.
    pub claims: bool,
}

/// The index entries a record has.
pub(crate) fn entries_of<K, V>(
    def: &TableDefinition<K, V>,
    v: &V,
    pk: &[u8],
    expiry: Option<i64>,
) -> Vec<Entry> {
    let mut out = Vec::new();
    for (i, idx) in def.indexes.iter().enumerate() {
        if let Some(cond) = &idx.condition {
            if !cond(v) {
                continue;
            }
        }
        let values = (idx.extract)(v);
        let covered = idx.covered.as_ref().map(|c| c(v));
        let orders = idx.spec.orders();
        for combo in expand_lists(values) {
            let (mut key, lead) = encode_key_and_lead(&combo, &orders);
            let claims = idx.spec.unique && !combo.iter().any(Value::is_null);
            let mut payload = EntryPayload {
                expiry,
                pk: None,
                covered: covered.clone(),
            };
            if claims {
                payload.pk = Some(pk.to_vec());
            } else {
                key.extend_from_slice(pk);
            }
            out.push(Entry {
                index: i,
                key,
                lead,
                value: payload.encode(),
                claims,
            });
        }
    }
    out
}

/// One tuple per combination of list elements (a list column makes one entry per distinct
/// element; an empty list makes none).
fn expand_lists(values: Vec<Value>) -> Vec<Vec<Value>> {
    if !values.iter().any(|v| matches!(v, Value::List(_))) {
        return vec![values];
    }
    let mut combos: Vec<Vec<Value>> = vec![Vec::with_capacity(values.len())];
    for v in values {
        match v {
            Value::List(items) => {
                let mut seen = HashSet::new();
                let distinct: Vec<Value> = items
                    .into_iter()
                    .filter(|item| {
                        let mut k = Vec::new();
                        encode_value(&mut k, item, Default::default());
                        seen.insert(k)
                    })
                    .collect();
                combos = combos
                    .into_iter()
                    .flat_map(|c| {
                        distinct.iter().map(move |item| {
                            let mut c = c.clone();
                            c.push(item.clone());
                            c
                        })
                    })
                    .collect();
            }
            v => combos.iter_mut().for_each(|c| c.push(v.clone())),
        }
    }
    combos
}
