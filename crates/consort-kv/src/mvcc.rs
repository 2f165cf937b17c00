//! Multi-version maps: each key holds a short chain of versioned values, newest first, in
//! one ordered map per table shared by the store and every snapshot of it.
//!
//! A commit appends one entry per written key (nothing is copied, whatever number of
//! snapshots are open); a snapshot at version `v` sees, for each key, the newest entry at
//! or below `v`. Entries no open snapshot and no rollback can reach any more are dropped
//! when their key is next written, and keys whose last entry is a removal are dropped once
//! nothing can see them ([`Data`] counts the open snapshots of each version in [`Pin`]s).

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard},
};

use bytes::Bytes;

use crate::Version;

/// A lock of the store is poisoned only if a thread panicked while changing the state,
/// which may then be half-changed: nothing can continue on it.
pub(crate) const POISONED: &str =
    "kv store lock poisoned: a thread panicked while changing the store; stopping";

/// The newest of `items` (ascending by `version`) at or below `v`.
fn newest_at<T>(items: &[T], v: Version, version: impl Fn(&T) -> Version) -> Option<&T> {
    match items.partition_point(|x| version(x) <= v) {
        0 => None,
        n => Some(&items[n - 1]),
    }
}

/// Drop from `items` (ascending by `version`) what nothing at or above `floor` can see:
/// everything before the newest item at or below `floor`.
fn drop_below<T>(items: &mut Vec<T>, floor: Version, version: impl Fn(&T) -> Version) {
    let below = items.partition_point(|x| version(x) <= floor);
    if below > 1 {
        items.drain(..below - 1);
    }
}

/// A stored key or value: one exact-size allocation, 16 bytes in place. (A `Bytes` is 32,
/// and the first clone of one made from a `Vec` adds a shared block: with both per key,
/// they were about half of the store's memory.) Readers get copies.
pub(crate) type Blob = Box<[u8]>;

/// One version of a key: its value, or `None` where the key was removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Cell {
    pub(crate) version: Version,
    value: Option<Blob>,
}

impl Cell {
    pub(crate) fn new(version: Version, value: Option<&[u8]>) -> Self {
        Self {
            version,
            value: value.map(Blob::from),
        }
    }

    /// The value (a copy), or `None` for a removal.
    pub(crate) fn value(&self) -> Option<Bytes> {
        self.value.as_deref().map(Bytes::copy_from_slice)
    }

    /// Whether this version holds a value (not a removal).
    pub(crate) fn is_value(&self) -> bool {
        self.value.is_some()
    }
}

/// The versions of one key: `head` is the newest; `older` (absent for the usual single
/// version, to keep the entry small) ascends by version.
#[derive(Clone, Debug)]
pub(crate) struct Chain {
    head: Cell,
    // Boxed on purpose: 8 bytes in every key's entry instead of a `Vec`'s 24; only keys
    // with several live versions pay the extra allocation.
    #[allow(clippy::box_collection)]
    older: Option<Box<Vec<Cell>>>,
}

impl Chain {
    pub(crate) fn new(head: Cell) -> Self {
        Self { head, older: None }
    }

    fn older(&self) -> &[Cell] {
        self.older.as_deref().map_or(&[], |v| v.as_slice())
    }

    /// The newest version at or below `v`.
    pub(crate) fn at(&self, v: Version) -> Option<&Cell> {
        if self.head.version <= v {
            return Some(&self.head);
        }
        newest_at(self.older(), v, |c| c.version)
    }

    /// The newest version (what validation compares against).
    pub(crate) fn newest(&self) -> &Cell {
        &self.head
    }

    /// Add a newer version, dropping the versions nothing at or above `floor` can see
    /// (everything older than the newest version at or below `floor`).
    fn push(&mut self, cell: Cell, floor: Version) {
        let old = std::mem::replace(&mut self.head, cell);
        self.older.get_or_insert_with(Default::default).push(old);
        self.prune(floor);
    }

    fn prune(&mut self, floor: Version) {
        if self.head.version <= floor {
            self.older = None;
        } else if let Some(older) = self.older.as_mut() {
            drop_below(older, floor, |c| c.version);
        }
    }

    /// Drop the newest version if it is `version`. Returns whether the chain is now empty.
    fn pop(&mut self, version: Version) -> bool {
        if self.head.version != version {
            return false;
        }
        let prev = self.older.as_mut().and_then(|o| o.pop());
        if self.older.as_ref().is_some_and(|o| o.is_empty()) {
            self.older = None;
        }
        match prev {
            Some(c) => {
                self.head = c;
                false
            }
            None => true,
        }
    }

    /// Whether older versions are kept.
    pub(crate) fn has_older(&self) -> bool {
        !self.older().is_empty()
    }

    /// The versions at or below `v`, if any.
    fn truncated(&self, v: Version) -> Option<Chain> {
        let mut older: Vec<Cell> = self
            .older()
            .iter()
            .chain(std::iter::once(&self.head))
            .filter(|c| c.version <= v)
            .cloned()
            .collect();
        let head = older.pop()?;
        let older = (!older.is_empty()).then(|| Box::new(older));
        Some(Chain { head, older })
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        1 + self.older().len()
    }
}

/// One map: its keys in order, and the versions that wrote it.
#[derive(Clone, Debug)]
pub(crate) struct Table {
    pub(crate) name: Arc<str>,
    pub(crate) keys: BTreeMap<Blob, Chain>,
    /// The versions that wrote (or removed) anything in this map, ascending, as far back as
    /// a snapshot or rollback can ask (the newest at or below the floor, and every one
    /// after it).
    writes: Vec<Version>,
}

impl Table {
    pub(crate) fn named(name: Arc<str>) -> Self {
        Self::restored(name, BTreeMap::new(), 0)
    }

    /// A table read back with the version of its last write.
    pub(crate) fn restored(
        name: Arc<str>,
        keys: BTreeMap<Blob, Chain>,
        last_write: Version,
    ) -> Self {
        Self {
            name,
            keys,
            writes: if last_write > 0 {
                vec![last_write]
            } else {
                Vec::new()
            },
        }
    }

    /// Version of the last transaction that wrote (or removed) anything in this map.
    pub(crate) fn last_write(&self) -> Version {
        self.writes.last().copied().unwrap_or(0)
    }

    /// Version of the last write at or below `v`.
    pub(crate) fn last_write_at(&self, v: Version) -> Version {
        newest_at(&self.writes, v, |w| *w).copied().unwrap_or(0)
    }

    /// Record that `v` wrote this map, where `v` is older than every write it records (a
    /// write restored from before them, see `Store::merge_missing`).
    pub(crate) fn note_older_write(&mut self, v: Version) {
        if v > 0 && self.writes.first().is_none_or(|w| *w > v) {
            self.writes.insert(0, v);
        }
    }

    /// This table as it was at version `v` (with the older versions kept).
    pub(crate) fn truncated(&self, v: Version) -> Table {
        let keys: BTreeMap<Blob, Chain> = self
            .keys
            .iter()
            .filter_map(|(k, c)| Some((k.clone(), c.truncated(v)?)))
            .collect();
        Table {
            name: self.name.clone(),
            keys,
            writes: self.writes.iter().copied().filter(|w| *w <= v).collect(),
        }
    }
}

/// Tables by name.
pub(crate) type Tables = BTreeMap<Arc<str>, Table>;

/// The state shared by a store and its snapshots.
#[derive(Default)]
pub(crate) struct Data {
    tables: RwLock<Tables>,
    /// Open snapshots' versions, and how many [`Pin`]s hold each.
    pins: Mutex<BTreeMap<Version, usize>>,
}

impl Data {
    pub(crate) fn new(tables: Tables) -> Arc<Self> {
        Arc::new(Self {
            tables: RwLock::new(tables),
            pins: Mutex::default(),
        })
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Tables> {
        self.tables.read().expect(POISONED)
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, Tables> {
        self.tables.write().expect(POISONED)
    }

    fn pins(&self) -> std::sync::MutexGuard<'_, BTreeMap<Version, usize>> {
        self.pins.lock().expect(POISONED)
    }

    /// The oldest version an open snapshot reads, if any.
    pub(crate) fn oldest_pinned(&self) -> Option<Version> {
        self.pins().keys().next().copied()
    }

    /// How many pins hold versions after `v`.
    pub(crate) fn pinned_after(&self, v: Version) -> usize {
        self.pins().range(v + 1..).map(|(_, n)| n).sum()
    }

    /// Apply `writes` to `map` as `version`; entries below `floor` that nothing can see
    /// are dropped. Returns the map's name and the keys written (for rollback); pushes onto
    /// `tidy` the keys left with older versions or removed.
    pub(crate) fn apply_map(
        tables: &mut Tables,
        map: &str,
        writes: &crate::MapWrites,
        version: Version,
        floor: Version,
        tidy: &mut Vec<Bytes>,
    ) -> (Arc<str>, Vec<Bytes>) {
        let table = match tables.get_mut(map) {
            Some(t) => t,
            None => {
                let name: Arc<str> = Arc::from(map);
                tables
                    .entry(name.clone())
                    .or_insert_with(|| Table::named(name))
            }
        };
        let name = table.name.clone();
        let mut touched = Vec::with_capacity(writes.len());
        for (k, v) in writes {
            let cell = Cell::new(version, v.as_deref());
            match table.keys.get_mut(&k[..]) {
                // Removing a removed key changes nothing (its version stays).
                Some(chain) if v.is_none() && chain.head.value.is_none() => continue,
                Some(chain) => {
                    chain.push(cell, floor);
                    if chain.has_older() || v.is_none() {
                        tidy.push(k.clone());
                    }
                }
                // Removing an absent key changes nothing.
                None if v.is_none() => continue,
                None => {
                    table.keys.insert(Blob::from(&k[..]), Chain::new(cell));
                }
            }
            touched.push(k.clone());
        }
        table.writes.push(version);
        drop_below(&mut table.writes, floor, |w| *w);
        (name, touched)
    }

    /// Undo `version`'s writes to `map` (the newest applied).
    pub(crate) fn revert_map(tables: &mut Tables, map: &str, version: Version, keys: &[Bytes]) {
        if let Some(t) = tables.get_mut(map) {
            for k in keys {
                if t.keys.get_mut(&k[..]).is_some_and(|c| c.pop(version)) {
                    t.keys.remove(&k[..]);
                }
            }
            if t.writes.last() == Some(&version) {
                t.writes.pop();
            }
        }
    }

    /// Drop the versions of `key` in `map` that nothing at or above `floor` can see, and
    /// the key itself if what is left is a removal.
    pub(crate) fn tidy(tables: &mut Tables, map: &str, key: &[u8], floor: Version) {
        if let Some(t) = tables.get_mut(map) {
            let gone = t.keys.get_mut(key).is_some_and(|c| {
                c.prune(floor);
                c.head.value.is_none() && c.head.version <= floor
            });
            if gone {
                t.keys.remove(key);
            }
        }
    }
}

impl std::fmt::Debug for Data {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The contents would print the whole store's history.
        write!(f, "Data({} maps)", self.read().len())
    }
}

/// An open snapshot's hold on its version of [`Data`]: while it lives, the entries its
/// version sees are kept.
pub(crate) struct Pin {
    pub(crate) data: Arc<Data>,
    pub(crate) version: Version,
}

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pin(version {})", self.version)
    }
}

impl Pin {
    pub(crate) fn new(data: Arc<Data>, version: Version) -> Arc<Self> {
        *data.pins().entry(version).or_default() += 1;
        Arc::new(Self { data, version })
    }
}

impl Drop for Pin {
    fn drop(&mut self) {
        let mut pins = self.data.pins();
        if let Some(n) = pins.get_mut(&self.version) {
            *n -= 1;
            if *n == 0 {
                pins.remove(&self.version);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(version: Version, v: u8) -> Cell {
        Cell::new(version, Some(&[v]))
    }

    #[test]
    fn chains_keep_what_the_floor_can_see() {
        let mut c = Chain::new(cell(1, 1));
        c.push(cell(3, 3), 0);
        c.push(cell(5, 5), 0);
        assert_eq!(c.len(), 3);
        assert_eq!(c.at(0), None);
        assert_eq!(c.at(2).map(|c| c.version), Some(1));
        assert_eq!(c.at(4).map(|c| c.version), Some(3));
        assert_eq!(c.at(9).map(|c| c.version), Some(5));
        // A floor of 4 still needs version 3 (what a reader at 4 sees), not version 1.
        c.push(cell(7, 7), 4);
        assert_eq!(c.len(), 3);
        assert_eq!(c.at(4).map(|c| c.version), Some(3));
        c.push(cell(8, 8), 8);
        assert_eq!(c.len(), 1);
        assert!(!c.pop(7));
        assert!(c.pop(8));
    }

    #[test]
    fn pins_count_per_version() {
        let d = Data::new(Tables::new());
        let a = Pin::new(d.clone(), 3);
        let b = Pin::new(d.clone(), 5);
        let b2 = Pin::new(d.clone(), 5);
        assert_eq!(d.oldest_pinned(), Some(3));
        assert_eq!(d.pinned_after(3), 2);
        drop(a);
        assert_eq!(d.oldest_pinned(), Some(5));
        drop(b);
        drop(b2);
        assert_eq!(d.oldest_pinned(), None);
    }
}
