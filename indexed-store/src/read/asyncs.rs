//! Async wrappers: every call runs on tokio's blocking pool, so RocksDB never blocks a
//! runtime worker.

use std::sync::Arc;

use crate::access::AccessPath;
use crate::error::{StoreError, StoreResult};
use crate::schema::{Entity, EntityKey};
use crate::table::{IndexedEntityStore, Mutation, VerifyReport, WriteOutcome};

/// A store shared with async code.
pub struct AsyncStore<K, V> {
    inner: Arc<IndexedEntityStore<K, V>>,
}

impl<K, V> Clone for AsyncStore<K, V> {
    fn clone(&self) -> Self {
        AsyncStore {
            inner: self.inner.clone(),
        }
    }
}

impl<K: EntityKey, V: Entity> AsyncStore<K, V> {
    /// Wraps a shared store.
    pub fn new(inner: Arc<IndexedEntityStore<K, V>>) -> Self {
        AsyncStore { inner }
    }

    /// The synchronous store.
    pub fn blocking(&self) -> &Arc<IndexedEntityStore<K, V>> {
        &self.inner
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&IndexedEntityStore<K, V>) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let store = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// See [`IndexedEntityStore::insert`].
    pub async fn insert(&self, v: V) -> StoreResult<()> {
        self.run(move |s| s.insert(v)).await
    }

    /// See [`IndexedEntityStore::update`].
    pub async fn update(&self, v: V) -> StoreResult<()> {
        self.run(move |s| s.update(v)).await
    }

    /// See [`IndexedEntityStore::upsert`].
    pub async fn upsert(&self, v: V) -> StoreResult<()> {
        self.run(move |s| s.upsert(v)).await
    }

    /// See [`IndexedEntityStore::delete`].
    pub async fn delete(&self, key: K) -> StoreResult<bool> {
        self.run(move |s| s.delete(&key)).await
    }

    /// See [`IndexedEntityStore::apply`].
    pub async fn apply(&self, mutations: Vec<Mutation<K, V>>) -> StoreResult<WriteOutcome> {
        self.run(move |s| s.apply(mutations)).await
    }

    /// See [`IndexedEntityStore::get`].
    pub async fn get(&self, key: K) -> StoreResult<Option<V>> {
        self.run(move |s| s.get(&key)).await
    }

    /// The records an access path selects (collected).
    pub async fn query(&self, path: AccessPath) -> StoreResult<Vec<V>> {
        self.run(move |s| {
            s.reader()
                .records(&path)?
                .map(|r| r.map(|(_, v)| v))
                .collect()
        })
        .await
    }

    /// Number of entries an access path selects.
    pub async fn count(&self, path: AccessPath) -> StoreResult<u64> {
        self.run(move |s| s.reader().count(&path)).await
    }

    /// See [`IndexedEntityStore::purge_expired`].
    pub async fn purge_expired(&self) -> StoreResult<u64> {
        self.run(|s| s.purge_expired()).await
    }

    /// See [`IndexedEntityStore::verify`].
    pub async fn verify(&self) -> StoreResult<VerifyReport> {
        self.run(|s| s.verify()).await
    }
}
