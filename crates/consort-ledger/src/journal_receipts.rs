//! Receipts and Merkle leaves for any transaction the ledger holds, in memory bounded by
//! the recent past, not by history.
//!
//! The tree keeps its low levels only for recent leaves ([`MerkleTree::flush`] at each
//! commit); a receipt or a leaf further back is recomputed from the ledger files, read
//! without the journal's lock (one read per chunk). Signature records, each with its
//! node's certificate, are kept for the newest [`RECENT_RECORDS`] committed signatures
//! and those after the commit point; older ones are read back from their entries. What
//! stays per signature is its seqno (8 bytes).

use super::*;
use crate::merkle::Recomputed;

/// Committed signatures whose records stay in memory.
const RECENT_RECORDS: usize = 64;

/// The signatures a ledger holds: every seqno, and the records of the recent ones.
#[derive(Debug, Default)]
pub(super) struct Signatures {
    seqnos: Vec<Version>,
    recent: BTreeMap<Version, SignatureRecord>,
}

impl Signatures {
    pub(super) fn insert(&mut self, seqno: Version, rec: SignatureRecord) {
        assert!(
            self.seqnos.last().is_none_or(|l| *l < seqno),
            "signatures are recorded in ledger order"
        );
        self.seqnos.push(seqno);
        self.recent.insert(seqno, rec);
    }

    pub(super) fn last(&self) -> Option<Version> {
        self.seqnos.last().copied()
    }

    /// The newest signature's record (kept whatever the commit point).
    pub(super) fn last_record(&self) -> Option<&SignatureRecord> {
        self.recent.values().next_back()
    }

    pub(super) fn contains(&self, seqno: Version) -> bool {
        self.seqnos.binary_search(&seqno).is_ok()
    }

    /// The first signature after `seqno`.
    pub(super) fn first_after(&self, seqno: Version) -> Option<Version> {
        let i = self.seqnos.partition_point(|s| *s <= seqno);
        self.seqnos.get(i).copied()
    }

    /// Forget the signatures after `seqno` (a rollback).
    pub(super) fn truncate_after(&mut self, seqno: Version) {
        let i = self.seqnos.partition_point(|s| *s <= seqno);
        self.seqnos.truncate(i);
        let _ = self.recent.split_off(&(seqno + 1));
    }

    /// Drop the records of signatures at or below `committed`, but the newest
    /// [`RECENT_RECORDS`] of them.
    pub(super) fn forget_below(&mut self, committed: Version) {
        while self.recent.len() > RECENT_RECORDS {
            match self.recent.first_key_value() {
                Some((s, _)) if *s <= committed => {
                    self.recent.pop_first();
                }
                _ => break,
            }
        }
    }
}

impl Journal {
    /// The Merkle leaves of transactions `from..=to` this node has (`None` before a
    /// snapshot it started from, or past its last entry). Leaves the tree no longer holds
    /// are recomputed from the ledger files.
    pub fn leaves(&self, from: Version, to: Version) -> Vec<Option<Sha256Digest>> {
        if from > to {
            return Vec::new();
        }
        let (mut out, redo) = {
            let inner = self.lock();
            let out: Vec<_> = (from..=to).map(|s| inner.tree.leaf(s)).collect();
            let first = inner.files.first_seqno().max(from);
            let end = inner.tree.flushed().min(to + 1).min(inner.tree.len());
            (out, (first < end).then_some(first..end))
        };
        if let Some(r) = redo {
            match self.ledger_leaves(r.clone()) {
                Ok(leaves) => {
                    for (s, l) in r.zip(leaves) {
                        out[(s - from) as usize] = Some(l);
                    }
                }
                Err(e) => tracing::warn!("Merkle leaves {r:?} from the ledger: {e}"),
            }
        }
        out
    }

    /// The Merkle leaves of entries `range`, recomputed from the files (read as
    /// [`Journal::read_stored`] reads them: the lock only to locate each batch). Meant for
    /// committed entries, which never change.
    fn ledger_leaves(
        &self,
        range: std::ops::Range<Version>,
    ) -> Result<Vec<Sha256Digest>, LedgerError> {
        let mut out = Vec::with_capacity((range.end - range.start) as usize);
        if range.start == 0 && range.end > 0 {
            // The tree's first leaf stands for seqno 0, which no entry holds.
            out.push(Sha256Digest::ZERO);
        }
        let first = range.start.max(1);
        if first < range.end {
            for e in self.read_stored(first, range.end - 1)? {
                let public = entry::decode_public(EntryView::parse(&e.bytes)?.public)?;
                out.push(leaf_of(&sha256(&e.bytes), &public));
            }
        }
        Ok(out)
    }

    /// A receipt for committed transaction `seqno`, from the first signature after it.
    /// Its commit evidence needs the ledger secret: refused with
    /// [`LedgerError::PrivateStateMissing`] while the old secrets of a recovering service
    /// are not restored.
    pub fn receipt(&self, seqno: Version) -> Result<Receipt, LedgerError> {
        let mut re = Recomputed::default();
        let mut have: Vec<Version> = Vec::new();
        // Each round recomputes the blocks the tree has flushed; a commit between rounds
        // can flush one more (the signature's), so a few rounds always suffice.
        for _ in 0..4 {
            let (sig, missing) = {
                let inner = self.lock();
                if seqno == 0 || seqno > inner.committed.seqno {
                    return Err(LedgerError::NotSigned(seqno));
                }
                inner.private_known(seqno)?;
                let sig = inner
                    .signatures
                    .first_after(seqno)
                    .ok_or(LedgerError::NotSigned(seqno))?;
                (sig, inner.tree.missing(seqno, sig))
            };
            let missing: Vec<_> = missing
                .into_iter()
                .filter(|r| !have.contains(&r.start))
                .collect();
            if missing.is_empty() {
                if let Some(r) = self.receipt_with(seqno, sig, &re)? {
                    return Ok(r);
                }
            }
            for r in missing {
                have.push(r.start);
                re.add(r.start, self.ledger_leaves(r)?);
            }
        }
        Err(LedgerError::UnknownSeqno(seqno))
    }

    /// The receipt of `seqno` under signature `sig`, if the tree (with `re`) proves it.
    fn receipt_with(
        &self,
        seqno: Version,
        sig: Version,
        re: &Recomputed,
    ) -> Result<Option<Receipt>, LedgerError> {
        let inner = self.lock();
        let Some(proof) = inner.tree.proof_with(seqno, sig, re) else {
            return Ok(None);
        };
        let rec = match inner.signatures.recent.get(&sig) {
            Some(rec) => rec.clone(),
            None => signature_in(sig, &inner.files.read_entry(sig)?)?,
        };
        let bytes = inner.files.read_entry(seqno)?;
        let view = EntryView::parse(&bytes)?;
        let public = entry::decode_public(view.public)?;
        let write_set_digest = sha256(&bytes);
        let commit_evidence = inner.secrets.for_version(seqno)?.commit_evidence(view.txid);
        Ok(Some(Receipt {
            cert: rec.cert,
            is_signature_transaction: false,
            leaf_components: LeafComponents {
                claims_digest: public.claims_digest.unwrap_or(Sha256Digest::ZERO),
                commit_evidence,
                write_set_digest,
            },
            node_id: rec.node,
            proof,
            signature: rec.sig,
            service_endorsements: Vec::new(),
        }))
    }
}

/// The signature record in entry `seqno` (its bytes), which the journal knows to be a
/// signature.
fn signature_in(seqno: Version, bytes: &[u8]) -> Result<SignatureRecord, LedgerError> {
    let corrupt = |reason: String| LedgerError::Corrupt { seqno, reason };
    let public = entry::decode_public(EntryView::parse(bytes)?.public)?;
    let v = public
        .maps
        .get(tables::SIGNATURES)
        .and_then(|m| m.values().next().cloned().flatten())
        .ok_or_else(|| corrupt("the signature's entry has no signature record".into()))?;
    serde_json::from_slice(&v).map_err(|e| corrupt(format!("bad signature record: {e}")))
}

#[cfg(test)]
#[path = "journal_receipts_test.rs"]
mod journal_receipts_test;
