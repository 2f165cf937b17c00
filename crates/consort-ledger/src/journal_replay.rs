//! Replay at restart: every entry of the files is audited, decrypted and applied.

use super::*;

/// What [`replay`] rebuilt.
pub(super) struct Replayed {
    pub(super) auditor: Auditor,
    pub(super) signatures: BTreeMap<Version, SignatureRecord>,
    /// First seqno of each view.
    pub(super) views: BTreeMap<Version, View>,
    pub(super) max_view: View,
    /// The given secrets, with those every rekey introduced.
    pub(super) secrets: LedgerSecrets,
}

/// Audit every entry of `files` in order, decode it with `secrets` and apply it to the
/// (empty) `store`. Standing alone every signature is final, so the store is compacted at
/// each; otherwise only up to what the chunk files record as committed.
pub(super) fn replay(
    files: &mut LedgerFiles,
    store: &Store,
    secrets: LedgerSecrets,
    standalone: bool,
) -> Result<Replayed, LedgerError> {
    let mut auditor = Auditor::new();
    let mut signatures = BTreeMap::new();
    // Under consensus only what the chunk files record as committed is final: the rest
    // may still be rolled back, so the store keeps its undo log from there.
    let known_committed = files.committed_seqno();
    let mut secrets = secrets;
    let mut max_view = 0;
    let mut views = BTreeMap::new();
    files.for_each_entry(|seqno, bytes| {
        let audited = auditor.add(seqno, bytes)?;
        let decoded = entry::decode_entry(bytes, &secrets).map_err(|e| LedgerError::Corrupt {
            seqno,
            reason: e.to_string(),
        })?;
        store.apply(decoded.txid, &decoded.write_set)?;
        // Bad input is an error above; these are our own invariants.
        assert_eq!(
            store.version(),
            seqno,
            "replay: store version is not the seqno"
        );
        assert_eq!(
            auditor.tree().len(),
            seqno + 1,
            "replay: Merkle tree size is not the seqno + 1"
        );
        learn_rekey(&mut secrets, seqno, &decoded.write_set)?;
        max_view = max_view.max(decoded.txid.view);
        note_view(&mut views, decoded.txid);
        if let Some(rec) = audited.signature {
            signatures.insert(seqno, rec);
            if standalone || seqno <= known_committed {
                store.compact(seqno);
            }
        }
        Ok(())
    })?;
    Ok(Replayed {
        auditor,
        signatures,
        views,
        max_view,
        secrets,
    })
}
