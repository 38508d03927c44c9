//! The reference `accounts` workload (DESIGN.md), generated deterministically: the same seed
//! gives the same rows on every machine. Used by the demo, the benchmarks and tests.

use crate::encoding::{ColumnType, SortOrder, Value};
use crate::schema::{ColumnDef, IndexColumn, IndexSpec, Row, TableSchema};

/// The ten tags rows draw from.
pub const TAGS: [&str; 10] = [
    "renewal_due",
    "vip",
    "churn_risk",
    "new",
    "enterprise",
    "smb",
    "trial",
    "partner",
    "overdue",
    "upsell",
];

/// A small, fast, deterministic generator (xorshift64*).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// The `accounts` schema with its four indexes.
pub fn accounts_schema() -> TableSchema {
    use ColumnType::*;
    let idx = |name: &str, cols: &[&str]| IndexSpec {
        name: name.into(),
        columns: cols
            .iter()
            .map(|c| IndexColumn {
                name: (*c).into(),
                order: SortOrder::Asc,
            })
            .collect(),
        unique: false,
        include: vec![],
        partial: false,
    };
    TableSchema {
        version: 0,
        loader: None,
        name: "accounts".into(),
        columns: vec![
            ColumnDef::new("id", Text).not_null(),
            ColumnDef::new("status", Text).not_null(),
            ColumnDef::new("contacts_count", Int64).not_null(),
            ColumnDef::new("owner", Text).not_null(),
            ColumnDef::new("created_at", Timestamp).not_null(),
            ColumnDef::new("score", Float64),
            ColumnDef::new("tags", List(Box::new(Text))),
        ],
        primary_key: vec!["id".into()],
        indexes: vec![
            idx("accounts_status_contacts", &["status", "contacts_count"]),
            idx("accounts_contacts", &["contacts_count"]),
            idx("accounts_owner", &["owner"]),
            idx("accounts_tags", &["tags"]),
        ],
        ttl: None,
    }
}

/// Row `i` of the workload for a seed: `acc-00000000`..., status active 50% / pending 25% /
/// rejected 25%, contacts uniform in 0..100000, 1000 owners, 0-3 of 10 tags.
pub fn account_row(rng: &mut Rng, i: u64) -> Row {
    let status = match rng.below(4) {
        0 | 1 => "active",
        2 => "pending",
        _ => "rejected",
    };
    let ntags = rng.below(4) as usize;
    let mut tags: Vec<Value> = Vec::with_capacity(ntags);
    for _ in 0..ntags {
        let t = Value::Text(TAGS[rng.below(10) as usize].to_owned());
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    vec![
        Value::Text(format!("acc-{i:08}")),
        Value::Text(status.to_owned()),
        Value::Int(rng.below(100_000) as i64),
        Value::Text(format!("owner-{:04}", rng.below(1000))),
        // 2024-01-01 plus up to a year, in µs.
        Value::Timestamp(1_704_067_200_000_000 + rng.below(365 * 86_400) as i64 * 1_000_000),
        Value::Float((rng.below(1_000_000) as f64) / 100.0),
        Value::List(tags),
    ]
}

/// `n` rows of the workload, in id order.
pub fn accounts(seed: u64, n: u64) -> impl Iterator<Item = Row> {
    let mut rng = Rng::new(seed);
    (0..n).map(move |i| account_row(&mut rng, i))
}
