//! [`Source`]: what typed handles read from — a transaction (reads are recorded for
//! conflict checks) or a snapshot (a consistent view, nothing recorded).

use bytes::Bytes;

use crate::{Snapshot, Tx};

/// A readable view of the maps: a [`Tx`] or a [`Snapshot`].
pub trait Source {
    /// The value of `key` in `map`.
    fn read(&mut self, map: &str, key: &[u8]) -> Option<Bytes>;
    /// Every pair of `map`, in key order.
    fn read_all(&mut self, map: &str) -> Vec<(Bytes, Bytes)>;
}

impl Source for Tx {
    fn read(&mut self, map: &str, key: &[u8]) -> Option<Bytes> {
        self.get(map, key)
    }
    fn read_all(&mut self, map: &str) -> Vec<(Bytes, Bytes)> {
        self.range(map, &..)
    }
}

impl Source for Snapshot {
    fn read(&mut self, map: &str, key: &[u8]) -> Option<Bytes> {
        self.get(map, key)
    }
    fn read_all(&mut self, map: &str) -> Vec<(Bytes, Bytes)> {
        self.range(
            map,
            (std::ops::Bound::Unbounded, std::ops::Bound::Unbounded),
        )
    }
}
