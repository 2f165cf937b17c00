//! Optimistic read-write transactions over a [`Snapshot`].

use std::{
    collections::{BTreeMap, BTreeSet},
    ops::{Bound, RangeBounds},
};

use bytes::Bytes;
use consort_crypto::Sha256Digest;

use crate::{Snapshot, Version, WriteSet};

/// What one map's reads covered.
#[derive(Debug, Default, Clone)]
pub(crate) struct MapReads {
    pub(crate) keys: BTreeSet<Bytes>,
    pub(crate) ranges: Vec<(Bound<Bytes>, Bound<Bytes>)>,
}

pub(crate) type ReadSet = BTreeMap<String, MapReads>;

/// A transaction: reads see the snapshot it began on plus its own writes.
///
/// Commit with [`crate::Store::commit`]; a commit fails with [`crate::KvError::Conflict`]
/// if anything it read changed in the meantime.
#[derive(Debug)]
pub struct Tx {
    snapshot: Snapshot,
    reads: ReadSet,
    writes: WriteSet,
    claims_digest: Option<Sha256Digest>,
    /// Commit only as the version right after the snapshot (see [`Tx::pin_next_version`]).
    pinned: bool,
}

fn own<R: RangeBounds<[u8]> + ?Sized>(r: &R) -> (Bound<Bytes>, Bound<Bytes>) {
    let conv = |b: Bound<&[u8]>| match b {
        Bound::Included(k) => Bound::Included(Bytes::copy_from_slice(k)),
        Bound::Excluded(k) => Bound::Excluded(Bytes::copy_from_slice(k)),
        Bound::Unbounded => Bound::Unbounded,
    };
    (conv(r.start_bound()), conv(r.end_bound()))
}

fn in_range(key: &[u8], r: &(Bound<Bytes>, Bound<Bytes>)) -> bool {
    let lo = match &r.0 {
        Bound::Included(s) => key >= &s[..],
        Bound::Excluded(s) => key > &s[..],
        Bound::Unbounded => true,
    };
    let hi = match &r.1 {
        Bound::Included(e) => key <= &e[..],
        Bound::Excluded(e) => key < &e[..],
        Bound::Unbounded => true,
    };
    lo && hi
}

impl Tx {
    pub(crate) fn new(snapshot: Snapshot) -> Self {
        Self {
            snapshot,
            reads: ReadSet::new(),
            writes: WriteSet::default(),
            claims_digest: None,
            pinned: false,
        }
    }

    pub(crate) fn into_parts(self) -> (Snapshot, ReadSet, WriteSet, bool) {
        (self.snapshot, self.reads, self.writes, self.pinned)
    }

    /// What this transaction computed depends on its own version (it used
    /// `read_version() + 1` as its position): its commit then fails with
    /// [`crate::KvError::Conflict`] if anything else committed since its snapshot, and the
    /// caller retries as for any conflict.
    pub fn pin_next_version(&mut self) {
        self.pinned = true;
    }

    /// Version of the snapshot this transaction reads.
    pub fn read_version(&self) -> Version {
        self.snapshot.version()
    }

    /// Whether the transaction has written nothing so far.
    pub fn is_read_only(&self) -> bool {
        self.writes.is_empty()
    }

    /// Application claims bound into this transaction's Merkle leaf (CCF's claims digest).
    pub fn set_claims_digest(&mut self, digest: Sha256Digest) {
        self.claims_digest = Some(digest);
    }

    pub fn claims_digest(&self) -> Option<Sha256Digest> {
        self.claims_digest
    }

    /// The writes so far.
    pub fn write_set(&self) -> &WriteSet {
        &self.writes
    }

    /// Read `key` from `map`.
    pub fn get(&mut self, map: &str, key: &[u8]) -> Option<Bytes> {
        if let Some(w) = self.writes.get(map).and_then(|m| m.get(key)) {
            return w.clone();
        }
        let reads = match self.reads.get_mut(map) {
            Some(r) => r,
            None => self.reads.entry(map.to_string()).or_default(),
        };
        if !reads.keys.contains(key) {
            reads.keys.insert(Bytes::copy_from_slice(key));
        }
        self.snapshot.get(map, key)
    }

    /// Whether `key` is present in `map`.
    pub fn contains(&mut self, map: &str, key: &[u8]) -> bool {
        self.get(map, key).is_some()
    }

    /// Version at which `key` was last committed (reads it).
    pub fn get_version(&mut self, map: &str, key: &[u8]) -> Option<Version> {
        self.get(map, key)?;
        self.snapshot.key_version(map, key)
    }

    /// Write `value` at `key` in `map`.
    pub fn put(&mut self, map: &str, key: impl Into<Bytes>, value: impl Into<Bytes>) {
        self.writes.put(map, key, value);
    }

    /// Remove `key` from `map`. Returns whether it was present (and so records a read).
    pub fn remove(&mut self, map: &str, key: impl Into<Bytes>) -> bool {
        let key = key.into();
        let existed = self.get(map, &key).is_some();
        self.writes.remove(map, key);
        existed
    }

    /// All key/value pairs of `map` whose key lies in `range`, in key order, including
    /// this transaction's own writes. The whole range counts as read: a later commit that
    /// inserts, changes or removes any key in it conflicts with this transaction.
    pub fn range<R: RangeBounds<[u8]> + ?Sized>(
        &mut self,
        map: &str,
        range: &R,
    ) -> Vec<(Bytes, Bytes)> {
        let r = own(range);
        self.reads
            .entry(map.to_string())
            .or_default()
            .ranges
            .push(r.clone());
        let base = self.snapshot.range(map, r.clone());
        let Some(w) = self.writes.get(map) else {
            return base;
        };
        let mut merged: BTreeMap<Bytes, Bytes> = base.into_iter().collect();
        for (k, v) in w.iter().filter(|(k, _)| in_range(k, &r)) {
            match v {
                Some(v) => {
                    merged.insert(k.clone(), v.clone());
                }
                None => {
                    merged.remove(k);
                }
            }
        }
        merged.into_iter().collect()
    }

    /// One page of `map` in key order: at most `limit` pairs with keys after `after`
    /// (from the start when `None`). Returns the page and the key to continue after, if
    /// there may be more.
    pub fn page(
        &mut self,
        map: &str,
        after: Option<&[u8]>,
        limit: usize,
    ) -> (Vec<(Bytes, Bytes)>, Option<Bytes>) {
        let start = match after {
            Some(a) => Bound::Excluded(a),
            None => Bound::Unbounded,
        };
        let (page, more) = self.range_page(map, &(start, Bound::Unbounded), limit);
        let next = more.then(|| page.last().map(|(k, _)| k.clone())).flatten();
        (page, next)
    }

    /// The first `limit` pairs of `map` within `range`, in key order (this transaction's
    /// writes included), and whether the range holds more. Only what the page covers
    /// counts as read (up to its last key, or the whole range if it holds no more), and
    /// the cost is that of the page, not of the range.
    pub fn range_page<R: RangeBounds<[u8]> + ?Sized>(
        &mut self,
        map: &str,
        range: &R,
        limit: usize,
    ) -> (Vec<(Bytes, Bytes)>, bool) {
        let r = own(range);
        // Our own removals may hide committed keys: ask for enough of them.
        let writes = self.writes.get(map);
        let hidden = writes.map_or(0, |w| w.iter().filter(|(k, _)| in_range(k, &r)).count());
        let want = limit.saturating_add(hidden).saturating_add(1);
        let base = self.snapshot.range_first(map, r.clone(), want);
        let base_complete = base.len() < want;
        let base_last = base.last().map(|(k, _)| k.clone());
        let mut merged: BTreeMap<Bytes, Bytes> = base.into_iter().collect();
        if let Some(w) = writes {
            for (k, v) in w.iter().filter(|(k, _)| in_range(k, &r)) {
                // Past what the committed page covers, a write may not be in order with
                // committed keys not fetched: leave it to the next page.
                if !base_complete && base_last.as_ref().is_some_and(|l| k > l) {
                    continue;
                }
                match v {
                    Some(v) => {
                        merged.insert(k.clone(), v.clone());
                    }
                    None => {
                        merged.remove(k);
                    }
                }
            }
        }
        let mut page: Vec<(Bytes, Bytes)> = merged.into_iter().collect();
        let more = page.len() > limit || !base_complete;
        page.truncate(limit);
        let end = match page.last() {
            Some((k, _)) if more => Bound::Included(k.clone()),
            _ => r.1.clone(),
        };
        self.reads
            .entry(map.to_string())
            .or_default()
            .ranges
            .push((r.0, end));
        (page, more)
    }
}
