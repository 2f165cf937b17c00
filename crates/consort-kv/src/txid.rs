use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// A transaction's sequence number: its position in the ledger (1-based) and its version.
pub type Version = u64;
/// A consensus view (Raft term).
pub type View = u64;

/// Transaction id `view.seqno`, as CCF writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TxId {
    pub view: View,
    pub seqno: Version,
}

impl TxId {
    pub const fn new(view: View, seqno: Version) -> Self {
        Self { view, seqno }
    }
}

impl fmt::Display for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.view, self.seqno)
    }
}

/// Error parsing a [`TxId`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseTxIdError(pub String);

impl fmt::Display for ParseTxIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid transaction id {:?}: expected <view>.<seqno>",
            self.0
        )
    }
}

impl std::error::Error for ParseTxIdError {}

impl FromStr for TxId {
    type Err = ParseTxIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseTxIdError(s.to_string());
        let (v, n) = s.split_once('.').ok_or_else(err)?;
        let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
        if !digits(v) || !digits(n) {
            return Err(err());
        }
        Ok(TxId {
            view: v.parse().map_err(|_| err())?,
            seqno: n.parse().map_err(|_| err())?,
        })
    }
}

impl Serialize for TxId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TxId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        let t: TxId = "2.15".parse().unwrap();
        assert_eq!(t, TxId::new(2, 15));
        assert_eq!(t.to_string(), "2.15");
        for bad in ["", "2", "2.", ".3", "a.b", "1.2.3", "-1.2", "1. 2"] {
            assert!(bad.parse::<TxId>().is_err(), "{bad}");
        }
        assert!(TxId::new(1, 9) < TxId::new(2, 1));
    }
}
