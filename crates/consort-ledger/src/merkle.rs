//! The ledger's Merkle tree, shaped exactly like CCF's (and `ccf.merkletree`): leaves are
//! paired left to right; an unpaired last node is promoted unchanged to the next level.
//!
//! Only *complete* nodes (those covering a full power-of-two run of leaves) are stored;
//! they never change until a truncation. Appending is amortised O(1) and at most O(log n)
//! hashes; the root, and any node of the tree as it stood at an earlier size, is
//! recomputed along the right edge in O(log n). Truncation (rollback) is O(log n).

use consort_crypto::{sha256_concat, Sha256Digest};
use serde::{Deserialize, Serialize};

/// One step of an inclusion proof: the sibling hash and which side it is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProofStep {
    Left(#[serde(with = "hex_digest")] Sha256Digest),
    Right(#[serde(with = "hex_digest")] Sha256Digest),
}

pub(crate) mod hex_digest {
    use consort_crypto::Sha256Digest;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(d: &Sha256Digest, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&d.to_hex())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Sha256Digest, D::Error> {
        let s = String::deserialize(d)?;
        Sha256Digest::from_hex(&s).ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))
    }
}

fn node_hash(l: &Sha256Digest, r: &Sha256Digest) -> Sha256Digest {
    sha256_concat(&[l.as_bytes(), r.as_bytes()])
}

/// Recompute a root from a leaf and its proof (CCF's `ccf.receipt.root`).
pub fn root_from_proof(leaf: &Sha256Digest, proof: &[ProofStep]) -> Sha256Digest {
    proof.iter().fold(*leaf, |acc, step| match step {
        ProofStep::Left(l) => node_hash(l, &acc),
        ProofStep::Right(r) => node_hash(&acc, r),
    })
}

/// An append-only Merkle tree with truncation.
#[derive(Debug, Clone, Default)]
pub struct MerkleTree {
    /// `levels[0]` are the leaves; `levels[k][i]` is the complete node over leaves
    /// `[i * 2^k, (i + 1) * 2^k)`.
    levels: Vec<Vec<Sha256Digest>>,
}

impl MerkleTree {
    pub fn new() -> Self {
        Self {
            levels: vec![Vec::new()],
        }
    }

    pub fn len(&self) -> u64 {
        self.levels[0].len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.levels[0].is_empty()
    }

    pub fn leaf(&self, index: u64) -> Option<Sha256Digest> {
        self.levels[0].get(index as usize).copied()
    }

    /// Append a leaf (already a digest; it is not hashed again).
    pub fn append(&mut self, leaf: Sha256Digest) {
        self.levels[0].push(leaf);
        let mut k = 0;
        while self.levels[k].len() % 2 == 0 {
            let n = self.levels[k].len();
            let parent = node_hash(&self.levels[k][n - 2], &self.levels[k][n - 1]);
            if self.levels.len() == k + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[k + 1].push(parent);
            k += 1;
        }
    }

    /// Keep only the first `size` leaves.
    pub fn truncate(&mut self, size: u64) {
        for (k, level) in self.levels.iter_mut().enumerate() {
            level.truncate((size >> k) as usize);
        }
        while self.levels.len() > 1 && self.levels.last().is_some_and(|l| l.is_empty()) {
            self.levels.pop();
        }
    }

    /// Number of nodes at level `k` of the tree with `size` leaves.
    fn count(size: u64, k: usize) -> u64 {
        if k >= 64 {
            return u64::from(size > 0);
        }
        size.div_ceil(1u64 << k)
    }

    /// Node `i` at level `k` of the tree as it was with `size` leaves.
    fn node(&self, size: u64, k: usize, i: u64) -> Sha256Digest {
        let complete = (i + 1).checked_shl(k as u32).is_some_and(|end| end <= size);
        if complete {
            return self.levels[k][i as usize];
        }
        let left = self.node(size, k - 1, 2 * i);
        if 2 * i + 1 < Self::count(size, k - 1) {
            node_hash(&left, &self.node(size, k - 1, 2 * i + 1))
        } else {
            left
        }
    }

    fn height(size: u64) -> usize {
        let mut k = 0;
        while Self::count(size, k) > 1 {
            k += 1;
        }
        k
    }

    /// Root of the whole tree. `None` when empty.
    pub fn root(&self) -> Option<Sha256Digest> {
        self.root_at(self.len())
    }

    /// Root of the tree as it was with its first `size` leaves.
    pub fn root_at(&self, size: u64) -> Option<Sha256Digest> {
        if size == 0 || size > self.len() {
            return None;
        }
        Some(self.node(size, Self::height(size), 0))
    }

    /// Inclusion proof of leaf `index` in the tree of the first `size` leaves, bottom-up.
    pub fn proof(&self, index: u64, size: u64) -> Option<Vec<ProofStep>> {
        if index >= size || size > self.len() {
            return None;
        }
        let mut out = Vec::new();
        let mut i = index;
        for k in 0..Self::height(size) {
            let sibling = i ^ 1;
            if sibling < Self::count(size, k) {
                let h = self.node(size, k, sibling);
                out.push(if sibling < i {
                    ProofStep::Left(h)
                } else {
                    ProofStep::Right(h)
                });
            }
            i >>= 1;
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use consort_crypto::sha256;
    use proptest::prelude::*;

    use super::*;

    /// The reference: rebuild level by level, promoting unpaired nodes (ccf.merkletree).
    fn reference_root(leaves: &[Sha256Digest]) -> Sha256Digest {
        let mut level = leaves.to_vec();
        while level.len() > 1 {
            level = level
                .chunks(2)
                .map(|c| {
                    if c.len() == 2 {
                        node_hash(&c[0], &c[1])
                    } else {
                        c[0]
                    }
                })
                .collect();
        }
        level[0]
    }

    fn leaves(n: usize) -> Vec<Sha256Digest> {
        (0..n).map(|i| sha256(&(i as u64).to_le_bytes())).collect()
    }

    #[test]
    fn matches_reference_for_all_small_sizes() {
        let ls = leaves(130);
        let mut t = MerkleTree::new();
        for (i, l) in ls.iter().enumerate() {
            t.append(*l);
            assert_eq!(
                t.root().unwrap(),
                reference_root(&ls[..=i]),
                "size {}",
                i + 1
            );
        }
        for size in 1..=130u64 {
            assert_eq!(
                t.root_at(size).unwrap(),
                reference_root(&ls[..size as usize])
            );
            for idx in 0..size {
                let p = t.proof(idx, size).unwrap();
                assert_eq!(
                    root_from_proof(&ls[idx as usize], &p),
                    t.root_at(size).unwrap()
                );
            }
        }
    }

    #[test]
    fn proof_json_shape() {
        let mut t = MerkleTree::new();
        for l in leaves(3) {
            t.append(l);
        }
        let p = t.proof(2, 3).unwrap();
        let j = serde_json::to_value(&p).unwrap();
        assert!(j[0].get("left").is_some(), "{j}");
    }

    proptest! {
        #[test]
        fn truncate_then_append_equals_fresh(n in 1usize..300, cut in 0usize..300, extra in 0usize..50) {
            let cut = cut.min(n);
            let ls = leaves(n + extra);
            let mut t = MerkleTree::new();
            for l in &ls[..n] { t.append(*l); }
            t.truncate(cut as u64);
            let mut fresh: Vec<Sha256Digest> = ls[..cut].to_vec();
            for l in &ls[n..] { t.append(*l); fresh.push(*l); }
            prop_assert_eq!(t.len() as usize, fresh.len());
            if !fresh.is_empty() {
                prop_assert_eq!(t.root().unwrap(), reference_root(&fresh));
            }
        }
    }
}
