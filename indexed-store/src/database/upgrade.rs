//! Bringing an older database to this build's formats when it opens, or refusing a newer
//! one by name: the record-format marker, and the `jobs` records of Quiver 0.1.

use std::sync::Arc;

use kv_store::{Direction, KeyRange, StorageBackend, WriteBatch};

use crate::encoding::{decode_entity_record, stored_format, RECORD_FORMAT};
use crate::error::StoreResult;
use crate::schema::{
    encode_record, leading_orders, CatalogKey, FormatMarker, Job, JobV1, CATALOG, JOBS_FORMAT,
};
use crate::table::{ensure_counts, entries_of, invalidate_counts, IndexedEntityStore};

/// Brings the `jobs` records to [`JOBS_FORMAT`]. A database without a format marker was
/// written by Quiver 0.1 ([`JobV1`] records): each record is rewritten in the current layout
/// with its entries in the new indexes, in one atomic batch with the marker, so a crash
/// leaves either the old database or the upgraded one. A newer format is refused.
pub(super) fn upgrade_jobs(
    backend: &Arc<dyn StorageBackend>,
    jobs: &IndexedEntityStore<String, Job>,
) -> StoreResult<()> {
    let key = CatalogKey::Format(FormatMarker::Jobs).encode();
    if stored_format(backend, CATALOG, &key, "table 'jobs'", JOBS_FORMAT)? == Some(JOBS_FORMAT) {
        return Ok(());
    }
    let def = jobs.definition();
    let parts = def.partitions();
    let mut batch = WriteBatch::new();
    for item in backend.scan(&parts.records, &KeyRange::all(), Direction::Forward)? {
        let (pk, raw) = item?;
        let (old, expiry) = decode_entity_record::<JobV1>(&raw, &parts.records)?;
        let job = Job::from(old);
        for e in entries_of(&def, &job, &pk, expiry) {
            batch.put(&parts.indexes[e.index], e.key, e.value);
        }
        batch.put(&parts.records, pk, encode_record(&def, &job, expiry));
    }
    batch.put(CATALOG, key, JOBS_FORMAT.to_le_bytes().to_vec());
    // The entries above bypass the counters: they are rebuilt, now or at the next open.
    invalidate_counts(&mut batch, parts);
    backend.write(batch)?;
    ensure_counts(backend, parts, &leading_orders(&def.schema))
}

/// Checks the catalog's record-format marker: a database written by a newer Quiver (records
/// in a layout this build cannot read) is refused before any table is opened. Older records
/// stay readable as they are, so the marker is raised to [`RECORD_FORMAT`] on open.
pub(super) fn check_record_format(backend: &Arc<dyn StorageBackend>) -> StoreResult<()> {
    // Quiver 0.1 wrote no marker: its records are all in format 1.
    let key = CatalogKey::Format(FormatMarker::Records).encode();
    let found = stored_format(
        backend,
        CATALOG,
        &key,
        "the database's records",
        RECORD_FORMAT,
    )?
    .unwrap_or(1);
    if found < RECORD_FORMAT {
        let mut batch = WriteBatch::new();
        batch.put(CATALOG, key, RECORD_FORMAT.to_le_bytes().to_vec());
        backend.write(batch)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::database::{Database, RowStore};
    use crate::encoding::Value;
    use crate::error::StoreError;
    use crate::schema::{Row, TableSchema};
    use kv_store::MemoryBackend;

    fn records_key() -> Vec<u8> {
        CatalogKey::Format(FormatMarker::Records).encode()
    }

    fn v1_job(id: &str, status: &str) -> JobV1 {
        JobV1 {
            job_id: id.into(),
            job_type: "export".into(),
            status: status.into(),
            namespace: "public".into(),
            table_name: "accounts".into(),
            created_at: 1_000,
            started_at: None,
            finished_at: None,
            idempotency_key: Some(format!("key-{id}")),
            parameters: "{}".into(),
            message: None,
        }
    }

    /// A database written by Quiver 0.1 (jobs in the first layout, no format marker)
    /// opens with its jobs upgraded and indexed.
    #[test]
    fn a_first_format_jobs_table_is_upgraded_on_open() {
        let backend: Arc<dyn StorageBackend> = Arc::new(MemoryBackend::new());
        backend.create_partition("t/jobs").unwrap();
        let mut batch = WriteBatch::new();
        for (id, status) in [("j1", "queued"), ("j2", "done")] {
            let pk = crate::encoding::encode_key(
                &[Value::Text(id.into())],
                &[crate::encoding::SortOrder::Asc],
            );
            batch.put(
                "t/jobs",
                pk,
                crate::encoding::encode_entity_record(&v1_job(id, status), None),
            );
        }
        backend.write(batch).unwrap();

        let db = Database::on(backend.clone()).unwrap();
        let j1 = db.jobs().get(&"j1".to_string()).unwrap().unwrap();
        assert_eq!(
            (j1.queue.as_str(), j1.status.as_str()),
            ("default", "queued")
        );
        let j2 = db.jobs().get(&"j2".to_string()).unwrap().unwrap();
        assert_eq!(j2.status, "succeeded");
        assert!(db.jobs().verify().unwrap().is_ok());
        assert_eq!(
            db.job_queue().by_idempotency_key("key-j1").unwrap(),
            Some(j1)
        );
        drop(db);
        // Opened again: already upgraded, nothing rewritten.
        let db = Database::on(backend.clone()).unwrap();
        assert!(db.jobs().verify().unwrap().is_ok());
        drop(db);

        backend
            .write({
                let mut b = WriteBatch::new();
                b.put(
                    CATALOG,
                    CatalogKey::Format(FormatMarker::Jobs).encode(),
                    99u32.to_le_bytes().to_vec(),
                );
                b
            })
            .unwrap();
        let err = Database::on(backend)
            .err()
            .expect("a newer format is refused");
        assert!(
            matches!(err, StoreError::UnsupportedFormat { found: 99, .. }),
            "{err}"
        );
    }

    fn rows_via_scan(t: &RowStore) -> Vec<Row> {
        let mut rows = Vec::new();
        let reader = t.reader();
        reader
            .visit_rows(&crate::access::AccessPath::primary(), &mut |row| {
                rows.push(
                    (0..2)
                        .map(|c| row.get(c).and_then(|v| v.to_value()))
                        .collect::<Result<Row, _>>()
                        .unwrap(),
                );
                Ok(true)
            })
            .unwrap();
        rows
    }

    /// A database written by Quiver 0.1 (SQL rows as bincode entities, no record-format
    /// marker) reads its rows as they are, beside rows written now in the row layout; the
    /// marker is raised on open, and a marker or record from a newer Quiver is refused.
    #[test]
    fn first_format_rows_read_beside_row_layout_rows() {
        use crate::encoding::ColumnType;
        use crate::schema::{ColumnDef, IndexSpec};
        let backend: Arc<dyn StorageBackend> = Arc::new(MemoryBackend::new());
        let db = Database::on(backend.clone()).unwrap();
        let t = db
            .create_table(TableSchema {
                version: 0,
                loader: None,
                name: "t".into(),
                columns: vec![
                    ColumnDef::new("id", ColumnType::Int64).not_null(),
                    ColumnDef::new("name", ColumnType::Text),
                ],
                primary_key: vec!["id".into()],
                indexes: vec![IndexSpec::new("by_name", &["name"])],
                ttl: None,
            })
            .unwrap();
        let new_row = vec![Value::Int(1), Value::Text("new".into())];
        let old_row = vec![Value::Int(2), Value::Text("old".into())];
        t.insert(new_row.clone()).unwrap();
        t.insert(old_row.clone()).unwrap();
        let def = t.definition();
        let parts = def.partitions();
        let old_pk = RowStore::pk_bytes(&def, &vec![Value::Int(2)]);
        let mut batch = WriteBatch::new();
        batch.put(
            &parts.records,
            old_pk.clone(),
            crate::encoding::encode_entity_record(&old_row, None),
        );
        batch.delete(CATALOG, records_key());
        backend.write(batch).unwrap();
        drop((t, db));

        let db = Database::on(backend.clone()).unwrap();
        assert_eq!(
            backend.get(CATALOG, &records_key()).unwrap(),
            Some(RECORD_FORMAT.to_le_bytes().to_vec())
        );
        let t = db.row_table("t").unwrap();
        assert_eq!(rows_via_scan(&t), vec![new_row.clone(), old_row.clone()]);
        assert_eq!(t.get(&vec![Value::Int(2)]).unwrap(), Some(old_row.clone()));
        assert!(t.verify().unwrap().is_ok());
        // Rewritten, the old row moves to the row layout.
        t.upsert(old_row.clone()).unwrap();
        let raw = backend.get(&parts.records, &old_pk).unwrap().unwrap();
        assert_eq!(raw[0] >> 4, crate::encoding::ROW_LAYOUT);
        assert_eq!(rows_via_scan(&t), vec![new_row, old_row]);

        // A record in a layout from the future is named, not misread.
        let mut batch = WriteBatch::new();
        batch.put(&parts.records, old_pk, vec![0x20, 0, 0, 0, 0]);
        backend.write(batch).unwrap();
        let err = t.get(&vec![Value::Int(2)]).unwrap_err();
        assert!(
            matches!(err, StoreError::UnsupportedFormat { found: 3, .. }),
            "{err}"
        );
        drop((t, db));

        let mut batch = WriteBatch::new();
        batch.put(
            CATALOG,
            records_key(),
            (RECORD_FORMAT + 1).to_le_bytes().to_vec(),
        );
        backend.write(batch).unwrap();
        let err = Database::on(backend)
            .err()
            .expect("a newer format is refused");
        assert!(
            matches!(err, StoreError::UnsupportedFormat { found, .. } if found == RECORD_FORMAT + 1),
            "{err}"
        );
    }
}
