//! MVCC store: snapshots of multi-version ordered maps ([`crate::mvcc`]), one version per
//! transaction.

use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    ops::Bound,
    sync::{Arc, RwLock},
};

use bytes::Bytes;

use crate::{
    mvcc::{Blob, Cell, Chain, Data, Pin, Table, Tables},
    tx::ReadSet,
    CommitError, KvError, Tx, TxId, Version, View, WriteSet,
};

/// An immutable, consistent view of every map at one version. Cheap to clone; while it
/// lives, the versions it sees are kept.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub(crate) version: Version,
    pub(crate) pin: Arc<Pin>,
    /// Writes laid over the shared state at `version` (see [`Snapshot::with_writes`]).
    overlay: Option<Arc<WriteSet>>,
}

impl Default for Snapshot {
    fn default() -> Self {
        Self {
            version: 0,
            pin: Pin::new(Data::new(Tables::new()), 0),
            overlay: None,
        }
    }
}

/// One map of a snapshot, materialized: name, version of its last write, and every
/// (key, value, version) in key order.
pub(crate) type MapDump = (String, Version, Vec<(Bytes, Bytes, Version)>);

impl Snapshot {
    /// The version (seqno of the last applied transaction) this snapshot reflects.
    pub fn version(&self) -> Version {
        self.version
    }

    fn overlaid(&self, map: &str, key: &[u8]) -> Option<Option<Bytes>> {
        self.overlay.as_ref()?.get(map)?.get(key).cloned()
    }

    pub fn get(&self, map: &str, key: &[u8]) -> Option<Bytes> {
        if let Some(w) = self.overlaid(map, key) {
            return w;
        }
        let tables = self.pin.data.read();
        tables.get(map)?.keys.get(key)?.at(self.version)?.value()
    }

    /// Version at which `key` was last written, if present.
    pub fn key_version(&self, map: &str, key: &[u8]) -> Option<Version> {
        if let Some(w) = self.overlaid(map, key) {
            return w.map(|_| self.version);
        }
        let tables = self.pin.data.read();
        let c = tables.get(map)?.keys.get(key)?.at(self.version)?;
        c.is_value().then_some(c.version)
    }

    /// Every (key, value, version) of `map` within `range`, in key order.
    fn visible(
        &self,
        map: &str,
        range: (Bound<&[u8]>, Bound<&[u8]>),
    ) -> Vec<(Bytes, Bytes, Version)> {
        self.visible_first(map, range, usize::MAX)
    }

    /// The first `n` (key, value, version) of `map` within `range`, in key order: the
    /// cost is that of the keys returned, not of the range.
    fn visible_first(
        &self,
        map: &str,
        range: (Bound<&[u8]>, Bound<&[u8]>),
        n: usize,
    ) -> Vec<(Bytes, Bytes, Version)> {
        if is_empty_range(range) {
            return Vec::new();
        }
        // An overlay may remove keys from the page: take it all, then cut.
        let overlaid = self.overlay.as_ref().is_some_and(|o| o.get(map).is_some());
        let take = if overlaid { usize::MAX } else { n };
        let mut out: Vec<(Bytes, Bytes, Version)> = {
            let tables = self.pin.data.read();
            match tables.get(map) {
                None => Vec::new(),
                Some(t) => t
                    .keys
                    .range::<[u8], _>(range)
                    .filter_map(|(k, c)| {
                        let c = c.at(self.version)?;
                        Some((Bytes::copy_from_slice(k), c.value()?, c.version))
                    })
                    .take(take)
                    .collect(),
            }
        };
        if let Some(w) = self.overlay.as_ref().and_then(|o| o.get(map)) {
            let mut merged: BTreeMap<Bytes, (Bytes, Version)> =
                out.into_iter().map(|(k, v, n)| (k, (v, n))).collect();
            for (k, v) in w.range::<[u8], _>(range) {
                match v {
                    Some(v) => merged.insert(k.clone(), (v.clone(), self.version)),
                    None => merged.remove(k),
                };
            }
            out = merged.into_iter().map(|(k, (v, n))| (k, v, n)).collect();
        }
        out.truncate(n);
        out
    }

    /// The first `n` key/value pairs of `map` within `range`, in key order, at a cost
    /// proportional to `n` (not to the size of the range).
    pub fn range_first(
        &self,
        map: &str,
        range: (Bound<Bytes>, Bound<Bytes>),
        n: usize,
    ) -> Vec<(Bytes, Bytes)> {
        let r = (
            range.0.as_ref().map(|b| &b[..]),
            range.1.as_ref().map(|b| &b[..]),
        );
        self.visible_first(map, r, n)
            .into_iter()
            .map(|(k, v, _)| (k, v))
            .collect()
    }

    /// Names of all maps that hold at least one key.
    pub fn map_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.pin.data.read().keys().map(|n| n.to_string()).collect();
        if let Some(o) = &self.overlay {
            names.extend(o.maps.keys().cloned());
        }
        names.sort();
        names.dedup();
        names.retain(|n| !self.is_empty(n));
        names
    }

    /// Number of keys in `map`.
    pub fn len(&self, map: &str) -> usize {
        if self.overlay.as_ref().is_some_and(|o| o.get(map).is_some()) {
            return self.entries(map).len();
        }
        let tables = self.pin.data.read();
        tables.get(map).map_or(0, |t| {
            t.keys
                .values()
                .filter(|c| c.at(self.version).is_some_and(Cell::is_value))
                .count()
        })
    }

    /// Whether `map` is empty or absent.
    pub fn is_empty(&self, map: &str) -> bool {
        if self.overlay.as_ref().is_some_and(|o| o.get(map).is_some()) {
            return self.entries(map).is_empty();
        }
        let tables = self.pin.data.read();
        tables.get(map).is_none_or(|t| {
            !t.keys
                .values()
                .any(|c| c.at(self.version).is_some_and(Cell::is_value))
        })
    }

    /// Key/value pairs of `map` within `range`, in key order.
    pub fn range(&self, map: &str, range: (Bound<Bytes>, Bound<Bytes>)) -> Vec<(Bytes, Bytes)> {
        let r = (
            range.0.as_ref().map(|b| &b[..]),
            range.1.as_ref().map(|b| &b[..]),
        );
        self.visible(map, r)
            .into_iter()
            .map(|(k, v, _)| (k, v))
            .collect()
    }

    /// Every (key, value, version) of `map`, in key order.
    pub fn entries(&self, map: &str) -> Vec<(Bytes, Bytes, Version)> {
        self.visible(map, (Bound::Unbounded, Bound::Unbounded))
    }

    /// A copy with `ws` applied at this snapshot's version (for tables that exist only in
    /// a snapshot file, or to drop them again).
    pub fn with_writes(&self, ws: &WriteSet) -> Snapshot {
        let mut overlay = self.overlay.as_deref().cloned().unwrap_or_default();
        for (name, writes) in &ws.maps {
            overlay
                .maps
                .entry(name.clone())
                .or_default()
                .extend(writes.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Snapshot {
            overlay: Some(Arc::new(overlay)),
            ..self.clone()
        }
    }

    /// Every map that holds a key, materialized, in name order.
    pub(crate) fn dump(&self) -> Vec<MapDump> {
        self.map_heads()
            .into_iter()
            .map(|(n, lw)| {
                let e = self.entries_in_chunks(&n);
                (n, lw, e)
            })
            .filter(|(_, _, e)| !e.is_empty())
            .collect()
    }

    /// Every map this snapshot may hold keys in, in name order, with the version of its
    /// last write at or below this snapshot's.
    pub(crate) fn map_heads(&self) -> Vec<(String, Version)> {
        let mut last: BTreeMap<String, Version> = {
            let tables = self.pin.data.read();
            tables
                .iter()
                .map(|(n, t)| (n.to_string(), t.last_write_at(self.version)))
                .collect()
        };
        if let Some(o) = &self.overlay {
            for (n, w) in &o.maps {
                if !w.is_empty() {
                    last.insert(n.clone(), self.version);
                }
            }
        }
        last.into_iter().collect()
    }

    /// [`Snapshot::entries`], taking the store's lock for one chunk of keys at a time, so
    /// that commits go on while a large map is read (this snapshot's pin keeps what it
    /// sees).
    fn entries_in_chunks(&self, map: &str) -> Vec<(Bytes, Bytes, Version)> {
        let mut out = Vec::new();
        self.for_each_page(map, |page| out.extend_from_slice(page));
        out
    }

    /// Visit the (key, value, version) entries of `map` in key order, a page of at most
    /// 4,096 at a time, each page read under the store's lock once (so that commits go on
    /// while a large map is read, and only a page is copied out at a time).
    pub(crate) fn for_each_page(&self, map: &str, mut f: impl FnMut(&[(Bytes, Bytes, Version)])) {
        const CHUNK: usize = 4096;
        let mut last: Option<Bytes> = None;
        loop {
            let lo = match &last {
                Some(k) => Bound::Excluded(&k[..]),
                None => Bound::Unbounded,
            };
            let got = self.visible_first(map, (lo, Bound::Unbounded), CHUNK);
            f(&got);
            if got.len() < CHUNK {
                return;
            }
            last = got.last().map(|(k, _, _)| k.clone());
        }
    }

    /// A standalone snapshot at `version` holding `maps` (e.g. read from a snapshot file).
    pub(crate) fn from_dump(version: Version, maps: Vec<MapDump>) -> Snapshot {
        let tables = maps
            .into_iter()
            .map(|(name, last_write, items)| {
                let keys = items
                    .into_iter()
                    .map(|(k, v, n)| (Blob::from(&k[..]), Chain::new(Cell::new(n, Some(&v)))))
                    .collect();
                let name: Arc<str> = Arc::from(name.as_str());
                let table = Table::restored(name.clone(), keys, last_write);
                (name, table)
            })
            .collect();
        Snapshot {
            version,
            pin: Pin::new(Data::new(tables), version),
            overlay: None,
        }
    }
}

/// One map's part of an [`Undo`]: name, keys written.
type MapUndo = (Arc<str>, Vec<Bytes>);

/// What it takes to revert one applied transaction: the keys it wrote in each map (their
/// newest versions, and the maps' last writes, are its own).
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
    data: Arc<Data>,
    /// Version of the last applied transaction.
    version: Version,
    /// The current version's pin, shared by every snapshot taken at it.
    pin: Arc<Pin>,
    view: View,
    /// Undo records of versions after `base`, oldest first, for rollback.
    undo: VecDeque<Undo>,
    /// Oldest version [`Store::rollback`] can return to.
    base: Version,
    /// Counts rollbacks and resets (see [`Store::map_stamp`]).
    epoch: u64,
    /// Keys to tidy once nothing can see their older versions: (version written, map,
    /// key), oldest first; only keys left with more than one version or removed.
    tidy: VecDeque<(Version, Arc<str>, Bytes)>,
    /// How many versions back [`Store::snapshot_at`] serves (0: none).
    history: Version,
    /// The oldest version whose state is whole: every floor the store pruned at is at or
    /// below it (it only grows, also when a rollback lowers the floor).
    kept_from: Version,
}

impl Inner {
    /// Versions below this are seen by no snapshot, reachable by no rollback and outside
    /// the history window. Returns it after noting it in `kept_from`.
    fn floor(&mut self) -> Version {
        let floor = self
            .data
            .oldest_pinned()
            .unwrap_or(self.version)
            .min(self.base)
            .min(self.version.saturating_sub(self.history));
        self.kept_from = self.kept_from.max(floor);
        floor
    }

    /// Apply `ws` as `version` (the next one) and make it current.
    fn apply(&mut self, version: Version, ws: &WriteSet) {
        let floor = self.floor();
        let mut undo = Undo {
            version,
            maps: Vec::with_capacity(ws.maps.len()),
        };
        {
            let mut tables = self.data.write();
            for (name, writes) in &ws.maps {
                if writes.is_empty() {
                    continue;
                }
                let mut tidy = Vec::new();
                let (map, touched) =
                    Data::apply_map(&mut tables, name, writes, version, floor, &mut tidy);
                self.tidy
                    .extend(tidy.into_iter().map(|k| (version, map.clone(), k)));
                undo.maps.push((map, touched));
            }
        }
        self.undo.push_back(undo);
        self.version = version;
        self.pin = Pin::new(self.data.clone(), version);
    }
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
        let data = Data::new(Tables::new());
        Self {
            inner: RwLock::new(Inner {
                pin: Pin::new(data.clone(), 0),
                data,
                version: 0,
                view: 0,
                undo: VecDeque::new(),
                base: 0,
                epoch: 0,
                tidy: VecDeque::new(),
                history: 0,
                kept_from: 0,
            }),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().expect(crate::mvcc::POISONED)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().expect(crate::mvcc::POISONED)
    }

    /// The current snapshot (every applied transaction).
    pub fn snapshot(&self) -> Snapshot {
        let inner = self.read();
        Snapshot {
            version: inner.version,
            pin: inner.pin.clone(),
            overlay: None,
        }
    }

    /// Version of the last applied transaction.
    pub fn version(&self) -> Version {
        self.read().version
    }

    /// Keep the state of the last `window` versions for [`Store::snapshot_at`] (older
    /// values of keys written since stay in memory until they leave the window).
    pub fn set_history(&self, window: Version) {
        self.write().history = window;
    }

    /// The oldest version [`Store::snapshot_at`] serves now.
    pub fn history_from(&self) -> Version {
        let inner = self.read();
        inner
            .kept_from
            .max(inner.version.saturating_sub(inner.history))
    }

    /// The state as it was at `version`, if still kept (between [`Store::history_from`]
    /// and the current version): each lookup finds its key's version by binary search.
    pub fn snapshot_at(&self, version: Version) -> Result<Snapshot, KvError> {
        let inner = self.read();
        let oldest = inner
            .kept_from
            .max(inner.version.saturating_sub(inner.history));
        if version < oldest || version > inner.version {
            return Err(KvError::HistoryUnavailable {
                requested: version,
                oldest,
                newest: inner.version,
            });
        }
        // Under the store's lock: no commit prunes below `oldest` before the pin holds.
        Ok(Snapshot {
            version,
            pin: Pin::new(inner.data.clone(), version),
            overlay: None,
        })
    }

    /// A transaction on [`Store::snapshot_at`] `version` (for reads at a past version).
    pub fn begin_at(&self, version: Version) -> Result<Tx, KvError> {
        Ok(Tx::new(self.snapshot_at(version)?))
    }

    /// A value that changes whenever `map`'s current contents may have changed (what
    /// caches of a map's contents key on): the version of its last write, and how many
    /// rollbacks and resets the store has seen.
    pub fn map_stamp(&self, map: &str) -> (u64, Version) {
        let inner = self.read();
        let lw = inner.data.read().get(map).map_or(0, |t| t.last_write());
        (inner.epoch, lw)
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
    /// nothing is applied and its error comes back as [`CommitError::Hook`]. (The ledger
    /// serializes and appends the entry in the hook, so the ledger order is the version
    /// order.)
    pub fn commit<E>(
        &self,
        tx: Tx,
        hook: impl FnOnce(&Committed) -> Result<(), E>,
    ) -> Result<CommitOutcome, CommitError<E>> {
        let (snapshot, reads, write_set, pinned) = tx.into_parts();
        if write_set.is_empty() {
            return Ok(CommitOutcome::ReadOnly {
                read_version: snapshot.version,
            });
        }
        let mut inner = self.write();
        let read_version = snapshot.version;
        let conflict = |why: &str| {
            CommitError::Kv(KvError::Conflict {
                map: why.into(),
                read_version,
            })
        };
        if !Arc::ptr_eq(&snapshot.pin.data, &inner.data) || read_version > inner.version {
            return Err(conflict(
                "(its snapshot: the state was rolled back or replaced)",
            ));
        }
        validate(&snapshot, &inner.data.read(), &reads)?;
        if pinned && inner.version != read_version {
            return Err(conflict(
                "(its version: another transaction committed first)",
            ));
        }
        drop(snapshot);
        let version = inner.version + 1;
        let committed = Committed {
            txid: TxId::new(inner.view, version),
            read_version,
            write_set,
        };
        hook(&committed).map_err(CommitError::Hook)?;
        inner.apply(version, &committed.write_set);
        Ok(CommitOutcome::Committed(committed))
    }

    /// Apply a write set received from the ledger or another node as transaction `txid`.
    /// Its seqno must directly follow the current version.
    pub fn apply(&self, txid: TxId, ws: &WriteSet) -> Result<(), KvError> {
        let mut inner = self.write();
        if txid.seqno != inner.version + 1 {
            return Err(KvError::NonContiguous {
                expected_after: inner.version,
                got: txid,
            });
        }
        inner.apply(txid.seqno, ws);
        if txid.view > inner.view {
            inner.view = txid.view;
        }
        Ok(())
    }

    /// Discard every version after `version`. Snapshots of discarded versions stay as they
    /// were (the store then continues on a copy of what it keeps).
    pub fn rollback(&self, version: Version) -> Result<(), KvError> {
        let mut inner = self.write();
        let (min, max) = (inner.base, inner.version);
        if version < min || version > max {
            return Err(KvError::RollbackOutOfRange {
                target: version,
                min,
                max,
            });
        }
        if version == max {
            return Ok(());
        }
        // Release our own hold on the newest version, then see who else holds one.
        inner.pin = Pin::new(inner.data.clone(), version);
        let discarded: Vec<Undo> = std::iter::from_fn(|| {
            inner
                .undo
                .back()
                .is_some_and(|u| u.version > version)
                .then(|| inner.undo.pop_back())
                .flatten()
        })
        .collect();
        if inner.data.pinned_after(version) > 0 {
            let kept: Tables = inner
                .data
                .read()
                .iter()
                .map(|(n, t)| (n.clone(), t.truncated(version)))
                .collect();
            inner.data = Data::new(kept);
            inner.pin = Pin::new(inner.data.clone(), version);
        } else {
            let mut tables = inner.data.write();
            for u in discarded {
                for (map, keys) in u.maps.iter().rev() {
                    Data::revert_map(&mut tables, map, u.version, keys);
                }
            }
        }
        inner.tidy.retain(|(v, _, _)| *v <= version);
        inner.epoch += 1;
        inner.version = version;
        Ok(())
    }

    /// Forget how to roll back to versions before `version` (they are committed), and drop
    /// versions nothing can see any more.
    pub fn compact(&self, version: Version) {
        let mut inner = self.write();
        let version = version.min(inner.version);
        while inner.undo.front().is_some_and(|u| u.version <= version) {
            inner.undo.pop_front();
        }
        inner.base = inner.base.max(version);
        let floor = inner.floor();
        if inner.tidy.front().is_none_or(|(v, _, _)| *v > floor) {
            return;
        }
        let data = inner.data.clone();
        let mut tables = data.write();
        while inner.tidy.front().is_some_and(|(v, _, _)| *v <= floor) {
            let (_, map, key) = inner.tidy.pop_front().expect("checked");
            Data::tidy(&mut tables, &map, &key, floor);
        }
    }

    /// Oldest version still available to [`Store::rollback`].
    pub fn oldest_rollback_point(&self) -> Version {
        self.read().base
    }

    /// Fill in private state that was missing below version `below` (a recovering
    /// service replays old entries public-only, then learns the old ledger secrets): every
    /// key of every private map of `from` (a state at a version below `below`) takes its
    /// value and version from `from`, unless this store wrote or removed it at `below` or
    /// later: such a key keeps its newer state. A removal of a key this store never held
    /// leaves no trace in it, so the caller names the keys written from `below` on in
    /// `written_since` (map name → keys); a key this store holds at a version `>= below`
    /// is kept too. Returns the number of keys filled in.
    ///
    /// Open snapshots and transactions keep seeing the state they began on: the store
    /// continues on a copy, so a transaction begun before the merge conflicts when it
    /// commits, and [`Store::map_stamp`] changes. Refused while versions before `below`
    /// may still be rolled back (the filled-in keys would have no undo record).
    pub fn merge_missing(
        &self,
        from: &Snapshot,
        below: Version,
        written_since: &BTreeMap<String, BTreeSet<Bytes>>,
    ) -> Result<u64, KvError> {
        if from.version >= below {
            return Err(KvError::MergeOutOfRange {
                from: from.version,
                below,
                rollback_base: self.oldest_rollback_point(),
            });
        }
        let source: Vec<MapDump> = from
            .dump()
            .into_iter()
            .filter(|(name, _, _)| !crate::is_public(name))
            .collect();
        let mut inner = self.write();
        if inner.base + 1 < below {
            return Err(KvError::MergeOutOfRange {
                from: from.version,
                below,
                rollback_base: inner.base,
            });
        }
        let mut tables: Tables = inner.data.read().clone();
        let none = BTreeSet::new();
        let mut merged = 0;
        for (name, last_write, items) in source {
            let keep = written_since.get(&name).unwrap_or(&none);
            let name: Arc<str> = Arc::from(name.as_str());
            let table = tables
                .entry(name.clone())
                .or_insert_with(|| Table::named(name));
            for (k, value, version) in items {
                debug_assert!(version < below, "a merged key comes from below");
                let newer = table
                    .keys
                    .get(&k[..])
                    .is_some_and(|c| c.newest().version >= below);
                if newer || keep.contains(&k) {
                    continue;
                }
                let cell = Cell::new(version, Some(&value));
                table.keys.insert(Blob::from(&k[..]), Chain::new(cell));
                merged += 1;
            }
            table.note_older_write(last_write);
        }
        let version = inner.version;
        inner.data = Data::new(tables);
        inner.pin = Pin::new(inner.data.clone(), version);
        inner.epoch += 1;
        // Earlier versions lack what was filled in.
        inner.kept_from = version;
        Ok(merged)
    }

    /// Replace the whole state (e.g. from a snapshot).
    pub fn reset_to(&self, snapshot: Snapshot) {
        let fresh = Snapshot::from_dump(snapshot.version, snapshot.dump());
        let mut inner = self.write();
        inner.undo.clear();
        inner.tidy.clear();
        inner.epoch += 1;
        inner.base = fresh.version;
        inner.kept_from = fresh.version;
        inner.version = fresh.version;
        inner.data = fresh.pin.data.clone();
        inner.pin = fresh.pin;
    }
}

/// Whether `range` holds no key at all (start after end, or equal and excluded):
/// `BTreeMap::range` panics on such bounds, and a request may well ask for them.
pub(crate) fn is_empty_range<K: Ord + ?Sized>(range: (Bound<&K>, Bound<&K>)) -> bool {
    match range {
        (Bound::Included(a), Bound::Included(b)) => a > b,
        (Bound::Included(a), Bound::Excluded(b))
        | (Bound::Excluded(a), Bound::Included(b))
        | (Bound::Excluded(a), Bound::Excluded(b)) => a >= b,
        _ => false,
    }
}

/// Serializability check: every key and range `reads` observed at `snap`'s version must
/// have no newer version in `tables` (the current state).
fn validate(snap: &Snapshot, tables: &Tables, reads: &ReadSet) -> Result<(), KvError> {
    let v = snap.version;
    for (map, mr) in reads {
        let Some(t) = tables.get(map.as_str()) else {
            continue;
        };
        if t.last_write() <= v {
            continue;
        }
        let changed = |c: &Chain| c.newest().version > v;
        let conflict = mr
            .keys
            .iter()
            .any(|k| t.keys.get(&k[..]).is_some_and(changed))
            || mr.ranges.iter().any(|r| {
                let r = (r.0.as_ref().map(|b| &b[..]), r.1.as_ref().map(|b| &b[..]));
                !is_empty_range(r) && t.keys.range::<[u8], _>(r).any(|(_, c)| changed(c))
            });
        if conflict {
            return Err(KvError::Conflict {
                map: map.clone(),
                read_version: v,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "store_test.rs"]
mod store_test;

#[cfg(test)]
#[path = "history_test.rs"]
mod history_test;
