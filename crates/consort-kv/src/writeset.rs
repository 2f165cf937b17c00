use std::collections::BTreeMap;

use bytes::Bytes;

use crate::is_public;

/// The writes of one map in a transaction: `Some(value)` to write, `None` to remove.
pub type MapWrites = BTreeMap<Bytes, Option<Bytes>>;

/// All writes of a transaction, by map name (maps and keys in ascending order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteSet {
    pub maps: BTreeMap<String, MapWrites>,
}

impl WriteSet {
    pub fn is_empty(&self) -> bool {
        self.maps.values().all(|m| m.is_empty())
    }

    pub fn put(&mut self, map: &str, key: impl Into<Bytes>, value: impl Into<Bytes>) {
        self.maps
            .entry(map.to_string())
            .or_default()
            .insert(key.into(), Some(value.into()));
    }

    pub fn remove(&mut self, map: &str, key: impl Into<Bytes>) {
        self.maps
            .entry(map.to_string())
            .or_default()
            .insert(key.into(), None);
    }

    /// Public maps (name starts with `public:`).
    pub fn public(&self) -> impl Iterator<Item = (&String, &MapWrites)> {
        self.maps
            .iter()
            .filter(|(n, m)| is_public(n) && !m.is_empty())
    }

    /// Private maps.
    pub fn private(&self) -> impl Iterator<Item = (&String, &MapWrites)> {
        self.maps
            .iter()
            .filter(|(n, m)| !is_public(n) && !m.is_empty())
    }

    pub fn get(&self, map: &str) -> Option<&MapWrites> {
        self.maps.get(map)
    }
}
