//! MVCC store: immutable snapshots of persistent ordered maps, one version per transaction.

use std::{
    collections::VecDeque,
    ops::Bound,
    sync::{Arc, RwLock},
};

use bytes::Bytes;
use imbl::OrdMap;

use crate::{tx::ReadSet, KvError, Tx, TxId, Version, View, WriteSet};

/// A value with the version that wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Versioned {
    pub(crate) version: Version,
    pub(crate) value: Bytes,
}

/// One map's contents at some version.
#[derive(Clone, Debug, Default)]
pub(crate) struct MapState {
    pub(crate) data: OrdMap<Bytes, Versioned>,
    /// Version of the last transaction that wrote (or removed) anything in this map.
    pub(crate) last_write: Version,
}

/// An immutable, consistent view of every map at one version. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub(crate) version: Version,
    pub(crate) maps: OrdMap<Arc<str>, MapState>,
}

impl Snapshot {
    /// The version (seqno of the last applied transaction) this snapshot reflects.
    pub fn version(&self) -> Version {
        self.version
    }

    pub fn get(&self, map: &str, key: &[u8]) -> Option<Bytes> {
        self.maps.get(map)?.data.get(key).map(|v| v.value.clone())
    }

    /// Version at which `key` was last written, if present.
    pub fn key_version(&self, map: &str, key: &[u8]) -> Option<Version> {
        self.maps.get(map)?.data.get(key).map(|v| v.version)
    }

    /// Names of all maps that hold at least one key.
    pub fn map_names(&self) -> Vec<String> {
        self.maps
            .iter()
            .filter(|(_, m)| !m.data.is_empty())
            .map(|(n, _)| n.to_string())
            .collect()
    }

    /// Number of keys in `map`.
    pub fn len(&self, map: &str) -> usize {
        self.maps.get(map).map_or(0, |m| m.data.len())
    }

    /// Whether `map` is empty or absent.
    pub fn is_empty(&self, map: &str) -> bool {
        self.len(map) == 0
    }

    /// Key/value pairs of `map` within `range`, in key order.
    pub fn range(&self, map: &str, range: (Bound<Bytes>, Bound<Bytes>)) -> Vec<(Bytes, Bytes)> {
        match self.maps.get(map) {
            None => Vec::new(),
            Some(m) => m
                .data
                .range(range)
                .map(|(k, v)| (k.clone(), v.value.clone()))
                .collect(),
        }
    }

    /// Every (key, value, version) of `map`, in key order.
    pub fn entries(&self, map: &str) -> Vec<(Bytes, Bytes, Version)> {
        match self.maps.get(map) {
            None => Vec::new(),
            Some(m) => m
                .data
                .iter()
                .map(|(k, v)| (k.clone(), v.value.clone(), v.version))
                .collect(),
        }
    }

    /// A copy with `ws` applied at this snapshot's version (for tables that exist only in
    /// a snapshot file, or to drop them again).
    pub fn with_writes(&self, ws: &WriteSet) -> Snapshot {
        let mut s = self.clone();
        let v = s.version;
        s.apply_in_place(v, ws);
        s
    }

    pub(crate) fn map(&self, map: &str) -> Option<&MapState> {
        self.maps.get(map)
    }

    /// Apply `ws` as version `version` in place (nodes shared with other snapshots are
    /// copied on write; unshared ones are mutated), returning what undoes it.
    pub(crate) fn apply_in_place(&mut self, version: Version, ws: &WriteSet) -> Undo {
        let mut undo = Undo {
            version,
            maps: Vec::with_capacity(ws.maps.len()),
        };
        for (name, writes) in &ws.maps {
            if writes.is_empty() {
                continue;
            }
            let state = match self.maps.get_mut(name.as_str()) {
                Some(s) => s,
                None => {
                    self.maps
                        .insert(Arc::from(name.as_str()), MapState::default());
                    self.maps.get_mut(name.as_str()).expect("just inserted")
                }
            };
            let mut prev = Vec::with_capacity(writes.len());
            for (k, v) in writes {
                let old = match v {
                    Some(value) => state.data.insert(
                        k.clone(),
                        Versioned {
                            version,
                            value: value.clone(),
                        },
                    ),
                    None => state.data.remove(k),
                };
                prev.push((k.clone(), old));
            }
            undo.maps
                .push((Arc::from(name.as_str()), state.last_write, prev));
            state.last_write = version;
        }
        self.version = version;
        undo
    }

    /// Revert the transaction recorded in `undo` (which must be the last one applied).
    fn revert(&mut self, undo: Undo) {
        debug_assert_eq!(undo.version, self.version);
        for (name, last_write, prev) in undo.maps.into_iter().rev() {
            if let Some(state) = self.maps.get_mut(&name) {
                for (k, old) in prev.into_iter().rev() {
                    match old {
                        Some(v) => {
                            state.data.insert(k, v);
                        }
                        None => {
                            state.data.remove(&k);
                        }
                    }
                }
                state.last_write = last_write;
            }
        }
        self.version -= 1;
    }
}

/// One map's part of an [`Undo`]: name, previous `last_write`, previous values.
type MapUndo = (Arc<str>, Version, Vec<(Bytes, Option<Versioned>)>);

/// What it takes to revert one applied transaction: each map's previous `last_write`, and
/// each written key's previous value.
#[derive(Debug)]
pub(crate) struct Undo {
    version: Version,
    maps: Vec<MapUndo>,
}

/// The result of committing a read-write transaction.
#[derive(Debug, Clone)]
pub struct Committed {
    pub txid: TxId,
    /// Version of the snapshot the transaction executed against.
    pub read_version: Version,
    pub write_set: WriteSet,
}

/// What [`Store::commit`] did.
#[derive(Debug, Clone)]
pub enum CommitOutcome {
    /// The transaction wrote nothing; it was serialized at its read version.
    ReadOnly {
        read_version: Version,
    },
    Committed(Committed),
}

#[derive(Debug)]
struct Inner {
    current: Snapshot,
    view: View,
    /// Undo records of versions after `base`, oldest first, for rollback.
    undo: VecDeque<Undo>,
    /// Oldest version [`Store::rollback`] can return to.
    base: Version,
}

/// The transactional store. Share it behind an `Arc`; all methods take `&self`.
#[derive(Debug)]
pub struct Store {
    inner: RwLock<Inner>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    pub fn new() -> Self {
        Self {
            inner: RwLock::new(Inner {
                current: Snapshot::default(),
                view: 0,
                undo: VecDeque::new(),
                base: 0,
            }),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The current snapshot (every applied transaction).
    pub fn snapshot(&self) -> Snapshot {
        self.read().current.clone()
    }

    /// Version of the last applied transaction.
    pub fn version(&self) -> Version {
        self.read().current.version
    }

    /// The view new transactions are assigned.
    pub fn view(&self) -> View {
        self.read().view
    }

    /// Set the view assigned to new transactions.
    pub fn set_view(&self, view: View) {
        self.write().view = view;
    }

    /// Begin a transaction on the current snapshot.
    pub fn begin(&self) -> Tx {
        Tx::new(self.snapshot())
    }

    /// Validate and apply `tx`. `hook` runs under the store's write lock with the new
    /// transaction's id and write set, before the new state becomes visible; if it fails,
    /// nothing is applied. (The ledger serializes and appends the entry in the hook, so the
    /// ledger order is the version order.)
    pub fn commit<E: std::fmt::Display>(
        &self,
        tx: Tx,
        hook: impl FnOnce(&Committed) -> Result<(), E>,
    ) -> Result<CommitOutcome, KvError> {
        let (snapshot, reads, write_set, pinned) = tx.into_parts();
        if write_set.is_empty() {
            return Ok(CommitOutcome::ReadOnly {
                read_version: snapshot.version,
            });
        }
        let mut inner = self.write();
        validate(&snapshot, &inner.current, &reads)?;
        if pinned && inner.current.version != snapshot.version {
            return Err(KvError::Conflict {
                map: "(its version: another transaction committed first)".into(),
                read_version: snapshot.version,
            });
        }
        let read_version = snapshot.version;
        // Release the transaction's snapshot so unshared nodes are updated in place.
        drop(snapshot);
        let version = inner.current.version + 1;
        let committed = Committed {
            txid: TxId::new(inner.view, version),
            read_version,
            write_set,
        };
        hook(&committed).map_err(|e| KvError::Hook(e.to_string()))?;
        let undo = inner.current.apply_in_place(version, &committed.write_set);
        inner.undo.push_back(undo);
        Ok(CommitOutcome::Committed(committed))
    }

    /// Apply a write set received from the ledger or another node as transaction `txid`.
    /// Its seqno must directly follow the current version.
    pub fn apply(&self, txid: TxId, ws: &WriteSet) -> Result<(), KvError> {
        let mut inner = self.write();
        if txid.seqno != inner.current.version + 1 {
            return Err(KvError::NonContiguous {
                expected_after: inner.current.version,
                got: txid,
            });
        }
        let undo = inner.current.apply_in_place(txid.seqno, ws);
        inner.undo.push_back(undo);
        if txid.view > inner.view {
            inner.view = txid.view;
        }
        Ok(())
    }

    /// Discard every version after `version`.
    pub fn rollback(&self, version: Version) -> Result<(), KvError> {
        let mut inner = self.write();
        let (min, max) = (inner.base, inner.current.version);
        if version < min || version > max {
            return Err(KvError::RollbackOutOfRange {
                target: version,
                min,
                max,
            });
        }
        while inner.current.version > version {
            let undo = inner
                .undo
                .pop_back()
                .expect("undo record for every version after base");
            inner.current.revert(undo);
        }
        Ok(())
    }

    /// Forget how to roll back to versions before `version` (they are committed).
    pub fn compact(&self, version: Version) {
        let mut inner = self.write();
        let version = version.min(inner.current.version);
        while inner.undo.front().is_some_and(|u| u.version <= version) {
            inner.undo.pop_front();
        }
        inner.base = inner.base.max(version);
    }

    /// Oldest version still available to [`Store::rollback`].
    pub fn oldest_rollback_point(&self) -> Version {
        self.read().base
    }

    /// Replace the whole state (e.g. from a snapshot).
    pub fn reset_to(&self, snapshot: Snapshot) {
        let mut inner = self.write();
        inner.undo.clear();
        inner.base = snapshot.version;
        inner.current = snapshot;
    }
}

/// Serializability check: every key and range `reads` observed in `snap` must be unchanged
/// in `current`.
fn validate(snap: &Snapshot, current: &Snapshot, reads: &ReadSet) -> Result<(), KvError> {
    for (map, mr) in reads {
        let cur = current.map(map);
        if cur.is_none_or(|m| m.last_write <= snap.version) {
            continue;
        }
        let conflict = || KvError::Conflict {
            map: map.clone(),
            read_version: snap.version,
        };
        for key in &mr.keys {
            if snap.key_version(map, key) != current.key_version(map, key) {
                return Err(conflict());
            }
        }
        for range in &mr.ranges {
            let empty = OrdMap::new();
            let a = snap.map(map).map_or(&empty, |m| &m.data);
            let b = cur.map_or(&empty, |m| &m.data);
            let mut ia = a.range(range.clone()).map(|(k, v)| (k, v.version));
            let mut ib = b.range(range.clone()).map(|(k, v)| (k, v.version));
            loop {
                match (ia.next(), ib.next()) {
                    (None, None) => break,
                    (x, y) if x == y => continue,
                    _ => return Err(conflict()),
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "store_test.rs"]
mod store_test;
