//! The ledger's Merkle tree, shaped exactly like CCF's (and `ccf.merkletree`): leaves are
//! paired left to right; an unpaired last node is promoted unchanged to the next level.
//!
//! Only *complete* nodes (those covering a full power-of-two run of leaves) are stored;
//! they never change until a truncation. Appending is amortised O(1) and at most O(log n)
//! hashes; the root, and any node of the tree as it stood at an earlier size, is
//! recomputed along the right edge in O(log n). Truncation (rollback) is O(log n).
//!
//! Memory is bounded by [`MerkleTree::flush`]: below the point it is given (the commit
//! point), only nodes of level [`LOW_LEVELS`] and up are kept — 1/512 of the leaves' memory
//! — so the tree no longer grows by 64 bytes per transaction. A proof for a flushed leaf
//! needs the leaves of one or two blocks of [`BLOCK`] leaves again ([`MerkleTree::missing`]),
//! which the caller recomputes from the ledger and passes to [`MerkleTree::proof_with`].

use std::{collections::VecDeque, ops::Range};

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

/// Levels below this are dropped for flushed leaves.
pub const LOW_LEVELS: usize = 10;
/// Leaves per block: the unit [`MerkleTree::flush`] drops and [`MerkleTree::missing`] asks
/// back.
pub const BLOCK: u64 = 1 << LOW_LEVELS;
/// Leaves below the flush point that keep their low levels (a window for recent receipts).
const KEEP: u64 = BLOCK;

/// An append-only Merkle tree with truncation.
#[derive(Debug, Clone)]
pub struct MerkleTree {
    /// `levels[k][j]` is the complete node `starts[k] + j` of level `k`, covering leaves
    /// `[i * 2^k, (i + 1) * 2^k)`; level 0 holds the leaves. A tree restored from a
    /// snapshot starts at its frontier (see [`MerkleTree::from_frontier`]).
    levels: Vec<VecDeque<Sha256Digest>>,
    starts: Vec<u64>,
    /// Number of leaves.
    size: u64,
    /// Size the tree was restored at (nothing below it can be truncated or proven).
    base: u64,
    /// Leaves below this (a multiple of [`BLOCK`]) have no nodes below [`LOW_LEVELS`].
    flushed: u64,
    /// A restored tree's frontier `(level, index, node)`, kept through flushes: proofs of
    /// the leaves after it in its block need it.
    pinned: Vec<(usize, u64, Sha256Digest)>,
}

/// Leaves recomputed (from the ledger) for flushed blocks, for [`MerkleTree::proof_with`]:
/// the nodes below [`LOW_LEVELS`] are hashed from them as the proof needs them.
#[derive(Debug, Clone, Default)]
pub struct Recomputed {
    runs: Vec<(u64, Vec<Sha256Digest>)>,
}

impl Recomputed {
    /// Add leaves `start..start + leaves.len()`.
    pub fn add(&mut self, start: u64, leaves: Vec<Sha256Digest>) {
        self.runs.push((start, leaves));
    }

    fn leaf(&self, i: u64) -> Option<Sha256Digest> {
        self.runs.iter().find_map(|(start, leaves)| {
            let j = i.checked_sub(*start)?;
            leaves.get(j as usize).copied()
        })
    }
}

impl Default for MerkleTree {
    fn default() -> Self {
        Self::new()
    }
}

impl MerkleTree {
    pub fn new() -> Self {
        Self {
            levels: vec![VecDeque::new()],
            starts: vec![0],
            size: 0,
            base: 0,
            flushed: 0,
            pinned: Vec::new(),
        }
    }

    /// The nodes a tree of `size` leaves needs to grow and compute roots: for each level
    /// `k` where `size >> k` is odd, the last complete node. (CCF keeps the equivalent in
    /// snapshots.)
    pub fn frontier(&self) -> Vec<(u32, Sha256Digest)> {
        let mut out = Vec::new();
        for k in 0..64usize {
            let n = self.size >> k;
            if n == 0 {
                break;
            }
            if n % 2 == 1 {
                if let Some(h) = self.complete(k, n - 1) {
                    out.push((k as u32, h));
                }
            }
        }
        out
    }

    /// A tree of `size` leaves known only by its [`MerkleTree::frontier`].
    pub fn from_frontier(size: u64, frontier: &[(u32, Sha256Digest)]) -> Option<Self> {
        let mut levels = Vec::new();
        let mut starts = Vec::new();
        let mut pinned = Vec::new();
        for k in 0..64usize {
            let n = size >> k;
            if n == 0 && k > 0 {
                break;
            }
            if n % 2 == 1 {
                let h = frontier.iter().find(|(l, _)| *l as usize == k)?.1;
                levels.push(VecDeque::from([h]));
                starts.push(n - 1);
                pinned.push((k, n - 1, h));
            } else {
                levels.push(VecDeque::new());
                starts.push(n);
            }
        }
        Some(Self {
            levels,
            starts,
            size,
            base: size,
            flushed: 0,
            pinned,
        })
    }

    pub fn len(&self) -> u64 {
        self.size
    }

    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    fn complete(&self, k: usize, i: u64) -> Option<Sha256Digest> {
        let start = *self.starts.get(k)?;
        i.checked_sub(start)
            .and_then(|j| self.levels[k].get(j as usize).copied())
    }

    /// Complete node `i` of level `k`: stored, pinned, or hashed from recomputed leaves.
    fn complete_with(&self, re: &Recomputed, k: usize, i: u64) -> Option<Sha256Digest> {
        if let Some(h) = self.complete(k, i) {
            return Some(h);
        }
        if let Some((_, _, h)) = self.pinned.iter().find(|(l, j, _)| *l == k && *j == i) {
            return Some(*h);
        }
        match k {
            0 => re.leaf(i),
            k if k < LOW_LEVELS => Some(node_hash(
                &self.complete_with(re, k - 1, 2 * i)?,
                &self.complete_with(re, k - 1, 2 * i + 1)?,
            )),
            _ => None,
        }
    }

    /// Leaves below this have been flushed ([`MerkleTree::flush`]).
    pub fn flushed(&self) -> u64 {
        self.flushed
    }

    pub fn leaf(&self, index: u64) -> Option<Sha256Digest> {
        self.complete(0, index)
    }

    /// Append a leaf (already a digest; it is not hashed again).
    pub fn append(&mut self, leaf: Sha256Digest) {
        self.levels[0].push_back(leaf);
        self.size += 1;
        let mut k = 0;
        loop {
            let count = self.starts[k] + self.levels[k].len() as u64;
            if count % 2 != 0 {
                break;
            }
            let right = self.complete(k, count - 1).expect("just pushed");
            let left = self
                .complete(k, count - 2)
                .expect("left sibling stored or in the frontier");
            let parent = node_hash(&left, &right);
            if self.levels.len() == k + 1 {
                self.levels.push(VecDeque::new());
                self.starts.push(0);
            }
            self.levels[k + 1].push_back(parent);
            k += 1;
        }
    }

    /// Drop the nodes below [`LOW_LEVELS`] of the blocks that end a window before `upto`
    /// (the commit point: nothing below it is truncated). The root, appends, truncation to
    /// `upto` or later, and proofs of leaves from `upto` on are unchanged; older proofs need
    /// [`MerkleTree::missing`].
    pub fn flush(&mut self, upto: u64) {
        let upto = upto.min(self.size.saturating_sub(1));
        let f = upto.saturating_sub(KEEP) / BLOCK * BLOCK;
        if f <= self.flushed {
            return;
        }
        for k in 0..LOW_LEVELS.min(self.levels.len()) {
            let target = f >> k;
            let drop = target.saturating_sub(self.starts[k]) as usize;
            let drop = drop.min(self.levels[k].len());
            self.levels[k].drain(..drop);
            self.starts[k] += drop as u64;
            if self.levels[k].capacity() > 4 * self.levels[k].len().max(64) {
                self.levels[k].shrink_to_fit();
            }
        }
        self.flushed = f;
    }

    /// The leaf ranges a proof of `index` in the tree of `size` leaves needs recomputed
    /// (empty when the tree has what it needs, or cannot prove it at all).
    pub fn missing(&self, index: u64, size: u64) -> Vec<Range<u64>> {
        if index >= size || size > self.len() || size < self.base || index < self.base {
            return Vec::new();
        }
        let mut out: Vec<Range<u64>> = Vec::new();
        for at in [index, size - 1] {
            let start = at / BLOCK * BLOCK;
            if start < self.flushed && out.iter().all(|r| r.start != start) {
                out.push(start.max(self.base)..(start + BLOCK).min(size));
            }
        }
        out
    }

    /// Keep only the first `size` leaves (never below a restored tree's base).
    pub fn truncate(&mut self, size: u64) {
        assert!(
            size >= self.base,
            "cannot truncate a restored tree below its snapshot"
        );
        assert!(size >= self.flushed, "cannot truncate a flushed tree");
        for (k, level) in self.levels.iter_mut().enumerate() {
            let keep = (size >> k).saturating_sub(self.starts[k]);
            level.truncate(keep as usize);
        }
        self.size = size.min(self.size);
    }

    /// Number of nodes at level `k` of the tree with `size` leaves.
    fn count(size: u64, k: usize) -> u64 {
        if k >= 64 {
            return u64::from(size > 0);
        }
        size.div_ceil(1u64 << k)
    }

    /// Node `i` at level `k` of the tree as it was with `size` leaves.
    fn node(&self, re: &Recomputed, size: u64, k: usize, i: u64) -> Option<Sha256Digest> {
        let complete = (i + 1).checked_shl(k as u32).is_some_and(|end| end <= size);
        if complete {
            return self.complete_with(re, k, i);
        }
        let left = self.node(re, size, k - 1, 2 * i)?;
        if 2 * i + 1 < Self::count(size, k - 1) {
            Some(node_hash(&left, &self.node(re, size, k - 1, 2 * i + 1)?))
        } else {
            Some(left)
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
        if size == 0 || size > self.len() || size < self.base {
            return None;
        }
        self.node(&Recomputed::default(), size, Self::height(size), 0)
    }

    /// Inclusion proof of leaf `index` in the tree of the first `size` leaves, bottom-up.
    /// `None` also for a flushed leaf (see [`MerkleTree::proof_with`]).
    pub fn proof(&self, index: u64, size: u64) -> Option<Vec<ProofStep>> {
        self.proof_with(index, size, &Recomputed::default())
    }

    /// [`MerkleTree::proof`], with the nodes of flushed blocks taken from `re`.
    pub fn proof_with(&self, index: u64, size: u64, re: &Recomputed) -> Option<Vec<ProofStep>> {
        if index >= size || size > self.len() || size < self.base {
            return None;
        }
        let mut out = Vec::new();
        let mut i = index;
        for k in 0..Self::height(size) {
            let sibling = i ^ 1;
            if sibling < Self::count(size, k) {
                let h = self.node(re, size, k, sibling)?;
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
        /// A tree restored from its frontier grows, roots and proves (for new leaves)
        /// exactly like the full tree.
        #[test]
        fn frontier_restore_matches_full_tree(n in 1usize..300, extra in 1usize..80, cut in 0usize..80) {
            let ls = leaves(n + extra);
            let mut full = MerkleTree::new();
            for l in &ls[..n] { full.append(*l); }
            let mut restored = MerkleTree::from_frontier(n as u64, &full.frontier()).unwrap();
            prop_assert_eq!(restored.root(), full.root());
            for l in &ls[n..] { full.append(*l); restored.append(*l); }
            prop_assert_eq!(restored.root(), full.root());
            let size = (n + extra) as u64;
            for idx in n as u64..size {
                prop_assert_eq!(restored.proof(idx, size), full.proof(idx, size));
            }
            let cut = (n + cut.min(extra)) as u64;
            restored.truncate(cut);
            full.truncate(cut);
            prop_assert_eq!(restored.root(), full.root());
            // Proofs of leaves before the frontier are usually unavailable; any given is valid.
            if let (Some(p), Some(l)) = (restored.proof(0, cut), restored.leaf(0)) {
                prop_assert_eq!(Some(root_from_proof(&l, &p)), restored.root());
            }
        }

        /// A flushed tree roots, grows and truncates (back to its flush point) like the
        /// whole tree, and proves every leaf the same given the leaves `missing` names.
        #[test]
        fn flushed_tree_matches_full_tree(
            n in 1usize..5000, restore_at in 0usize..3000, upto in 0usize..5000,
            extra in 0usize..1200, probes in proptest::collection::vec((0usize..6200, 0usize..6200), 12),
        ) {
            let ls = leaves(n + extra);
            let mut full = MerkleTree::new();
            for l in &ls[..n] { full.append(*l); }
            let restore_at = restore_at.min(n);
            let mut t = if restore_at > 0 {
                let mut r = MerkleTree::new();
                for l in &ls[..restore_at] { r.append(*l); }
                let mut t = MerkleTree::from_frontier(restore_at as u64, &r.frontier()).unwrap();
                for l in &ls[restore_at..n] { t.append(*l); }
                t
            } else {
                full.clone()
            };
            let upto = upto.min(n) as u64;
            t.flush(upto);
            prop_assert_eq!(t.root(), full.root());
            prop_assert_eq!(t.frontier(), full.frontier());
            for l in &ls[n..] { full.append(*l); t.append(*l); }
            prop_assert_eq!(t.root(), full.root());
            let total = (n + extra) as u64;
            for (a, b) in probes {
                let (size, index) = (1 + (a as u64 % total), b as u64 % total);
                if index >= size { continue; }
                let mut re = Recomputed::default();
                for r in t.missing(index, size) {
                    let run = ls[r.start as usize..r.end as usize].to_vec();
                    re.add(r.start, run);
                }
                let got = t.proof_with(index, size, &re);
                if index >= restore_at as u64 {
                    prop_assert_eq!(got, full.proof(index, size));
                } else if got.is_some() {
                    // Before a restored tree's frontier, only some proofs exist; any is right.
                    prop_assert_eq!(got, full.proof(index, size));
                }
                if index >= upto && index >= restore_at as u64 && size > upto {
                    prop_assert!(t.missing(index, size).is_empty() || index < upto + BLOCK);
                }
            }
            let cut = upto.max(restore_at as u64).max(1) + (extra as u64 / 2);
            if cut <= total {
                t.truncate(cut);
                full.truncate(cut);
                prop_assert_eq!(t.root(), full.root());
                for l in &ls[..3] { t.append(*l); full.append(*l); }
                prop_assert_eq!(t.root(), full.root());
            }
        }

        #[test]
        fn flush_bounds_memory(n in 3000usize..20000) {
            let mut t = MerkleTree::new();
            for (i, l) in leaves(n).into_iter().enumerate() {
                t.append(l);
                t.flush(i as u64);
            }
            let stored: usize = t.levels.iter().map(|l| l.len()).sum();
            // The low levels hold at most the window and the open block (twice over for
            // the inner nodes); the high ones about 2 / BLOCK of the leaves.
            prop_assert!(stored <= 2 * (3 * BLOCK as usize) + 2 * n / BLOCK as usize + 64, "{stored}");
        }

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
