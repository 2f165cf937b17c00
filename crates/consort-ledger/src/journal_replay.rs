//! Replay at restart: every entry of the files is audited, decrypted and applied; an entry
//! that no known ledger secret covers (a recovering service's old entries) is applied
//! public-only, and the journal records that private state below it is missing.

use super::*;

/// What [`replay`] rebuilt.
pub(super) struct Replayed {
    pub(super) auditor: Auditor,
    pub(super) signatures: receipts::Signatures,
    /// First seqno of each view.
    pub(super) views: BTreeMap<Version, View>,
    pub(super) max_view: View,
    /// The given secrets, with those every rekey introduced.
    pub(super) secrets: LedgerSecrets,
    /// Set if some entries were applied public-only.
    pub(super) missing: Option<MissingPrivate>,
}

/// Audit every entry of `files` after `after` in order (with `auditor`, which expects the
/// first of them), decode it with `secrets` (public-only where none covers it) and apply it
/// to `store`, which holds the state at `after`. Standing alone every signature is final,
/// so the store is compacted at each; otherwise only up to what the chunk files record as
/// committed.
pub(super) fn replay(
    files: &mut LedgerFiles,
    store: &Store,
    mut auditor: Auditor,
    after: Version,
    mut secrets: LedgerSecrets,
    standalone: bool,
) -> Result<Replayed, LedgerError> {
    let mut signatures = receipts::Signatures::default();
    // Under consensus only what the chunk files record as committed is final: the rest
    // may still be rolled back, so the store keeps its undo log from there.
    let known_committed = files.committed_seqno();
    let mut max_view = 0;
    let mut views = BTreeMap::new();
    let mut missing: Option<MissingPrivate> = None;
    files.for_each_entry(|seqno, bytes| {
        if seqno <= after {
            return Ok(());
        }
        let audited = auditor.add(seqno, bytes)?;
        let known = secrets.for_version(seqno).is_ok();
        let decoded = if known {
            entry::decode_entry(bytes, &secrets)
        } else {
            entry::decode_entry_public(bytes)
        }
        .map_err(|e| LedgerError::Corrupt {
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
        if known {
            learn_rekey(&mut secrets, seqno, &decoded.write_set)?;
        }
        note_private(&mut missing, seqno, !known, &decoded.write_set);
        max_view = max_view.max(decoded.txid.view);
        note_view(&mut views, decoded.txid);
        if let Some(rec) = audited.signature {
            signatures.insert(seqno, rec);
            if standalone || seqno <= known_committed {
                store.compact(seqno);
                auditor.flush_tree(seqno);
                signatures.forget_below(seqno);
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
        missing,
    })
}

/// Check that `files` continue the state at `after` (0, or a snapshot's seqno: an empty
/// ledger then starts right after it; entries up to it, if there, are skipped).
/// The store must hold just that state.
fn continue_after(
    files: &mut LedgerFiles,
    store: &Store,
    after: Version,
) -> Result<(), LedgerError> {
    if store.version() != after {
        return Err(LedgerError::Invalid {
            path: files.dir().to_path_buf(),
            reason: "the store must be empty".into(),
        });
    }
    if files.chunk_files().is_empty() && after > 0 {
        return files.start_at(after + 1);
    }
    if files.first_seqno() > after + 1 || files.last_seqno() < after {
        return Err(LedgerError::Invalid {
            path: files.dir().to_path_buf(),
            reason: format!(
                "the ledger holds {}..={}, which does not continue seqno {after}",
                files.first_seqno(),
                files.last_seqno()
            ),
        });
    }
    Ok(())
}

fn log_reopened(report: &OpenReport) {
    tracing::info!(
        replayed = report.replayed,
        rolled_back = report.rolled_back,
        "ledger reopened at {:?}",
        report.last_signature
    );
}

/// What [`Journal::reopen`] found besides the [`OpenReport`].
pub(super) struct Reopened {
    pub(super) max_view: View,
}

impl Journal {
    /// Reopen an existing ledger: verify every entry, rebuild the store (which must be
    /// empty) and the Merkle tree, and roll back the unsigned tail. Entries before the first
    /// of `secrets` are applied public-only: a node of a recovering service restarting
    /// before [`Journal::recover_private`] then reports them in
    /// [`Journal::private_missing_below`].
    pub fn open(
        config: JournalConfig,
        store: Arc<Store>,
        node: Arc<NodeIdentity>,
        secrets: LedgerSecrets,
    ) -> Result<(Self, OpenReport), LedgerError> {
        let (journal, report, _) = Self::reopen(config, store, node, secrets, None, 1)?;
        Ok((journal, report))
    }

    /// [`Journal::open`], optionally after a snapshot already restored into `store` (its
    /// auditor, seqno and Merkle tree), continuing `view_step` views after the last one.
    pub(super) fn reopen(
        config: JournalConfig,
        store: Arc<Store>,
        node: Arc<NodeIdentity>,
        secrets: LedgerSecrets,
        base: Option<(Auditor, TxId)>,
        view_step: View,
    ) -> Result<(Self, OpenReport, Reopened), LedgerError> {
        let (mut files, file_report) =
            LedgerFiles::open_in(config.storage.clone(), &config.dir, config.chunk_threshold)?;
        let (auditor, base_txid) = match base {
            Some((a, t)) => (a, Some(t)),
            None => (Auditor::new(), None),
        };
        let after = base_txid.map_or(0, |t| t.seqno);
        continue_after(&mut files, &store, after)?;
        let Replayed {
            auditor,
            signatures,
            mut views,
            max_view,
            mut secrets,
            mut missing,
        } = replay(
            &mut files,
            &store,
            auditor,
            after,
            secrets,
            config.commit_on_signature,
        )?;
        if let Some(t) = base_txid {
            views.entry(t.seqno).or_insert(t.view);
        }
        let max_view = max_view.max(base_txid.map_or(0, |t| t.view));
        if let Some(e) = auditor.pending_evidence() {
            // Nothing in the ledger binds the snapshot's contents to its receipt.
            return Err(LedgerError::Invalid {
                path: config.dir.clone(),
                reason: format!(
                    "the ledger ends before the snapshot's evidence transaction at {e}"
                ),
            });
        }
        let last = auditor.last_txid().map_or(0, |t| t.seqno);
        let last_sig = auditor.last_signature();
        let signed = last_sig.map_or(0, |t| t.seqno);
        let mut tree = auditor.into_tree();
        if last > signed {
            store.rollback(signed)?;
            tree.truncate(signed + 1);
            let _ = views.split_off(&(signed + 1));
            files.truncate(signed)?;
            // A rekey in the rolled-back tail never happened.
            secrets.remove_after(signed + 1);
            if missing.as_mut().is_some_and(|m| !m.rollback(signed)) {
                missing = None;
            }
        }
        let mut committed = base_txid.unwrap_or_default();
        if config.commit_on_signature {
            files.commit(signed)?;
            if let Some(t) = last_sig {
                committed = t;
            }
        } else {
            // Under consensus: what the chunk files already record as committed.
            let c = files.committed_seqno().min(signed);
            if c > committed.seqno {
                committed = TxId::new(view_at(&views, c).unwrap_or(0), c);
            }
        }
        store.set_view(max_view + view_step);
        assert_eq!(
            files.last_seqno(),
            store.version(),
            "open: ledger and store differ"
        );
        assert_eq!(
            tree.len(),
            store.version() + 1,
            "open: tree and store differ"
        );
        let report = OpenReport {
            files: file_report,
            replayed: last.saturating_sub(after),
            rolled_back: last - signed,
            last_signature: last_sig,
        };
        log_reopened(&report);
        let mut inner = Inner::new(files, tree, secrets, signatures, views, committed);
        inner.missing = missing;
        let journal = Self {
            store,
            node,
            inner: Mutex::new(inner),
            config,
        };
        Ok((journal, report, Reopened { max_view }))
    }
}
