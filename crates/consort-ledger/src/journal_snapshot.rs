//! Snapshots (CCF's format and naming) and starting a journal from one.
//!
//! A snapshot at committed seqno `S` is the snapshot entry (see `consort_kv::snapshot`,
//! including the Merkle frontier in `public:ccf.internal.tree`), then — once the evidence
//! transaction `E` (`public:ccf.internal.snapshot_evidence`: the snapshot's SHA-256 and `S`)
//! is committed — the receipt for `E` appended as JSON, in `snapshot_<S>_<E>.committed`.
//! `ccf.ledger.Snapshot` reads and checks exactly this.
//!
//! A node starting from a snapshot trusts it only as far as it can check: the receipt must
//! verify against the service identity; the frontier must give the root recorded in the
//! snapshot; when `E` itself arrives, its digest must be the receipt's and its evidence must
//! name this snapshot's hash; and the first signature after `S` must sign a root computed
//! over the restored frontier.

use std::path::{Path, PathBuf};

use consort_kv::{snapshot, WriteSet};

use super::*;
use crate::storage::write_atomic;

pub use crate::tables::{SNAPSHOT_EVIDENCE, TREE_TABLE};

pub(super) use crate::verify::{Evidence, PendingEvidence};

fn view_history(views: &BTreeMap<Version, View>) -> Vec<Version> {
    let max = views.values().copied().max().unwrap_or(0);
    let mut out = vec![0u64; max as usize + 1];
    let mut next = 0;
    for v in (0..=max).rev() {
        if let Some((s, _)) = views.iter().find(|(_, vv)| **vv == v) {
            next = *s;
        }
        out[v as usize] = next;
    }
    out
}

/// The state at a point and what its snapshot records besides (see
/// [`Journal::snapshot_input`]), serializable without the journal's lock.
pub(super) struct SnapshotInput {
    pub(super) txid: TxId,
    state: consort_kv::Snapshot,
    root: Sha256Digest,
    view_history: Vec<Version>,
    secrets: LedgerSecrets,
}

impl SnapshotInput {
    pub(super) fn serialize(&self) -> Result<Vec<u8>, LedgerError> {
        Ok(snapshot::serialize_snapshot(
            self.txid,
            &self.state,
            &self.root,
            &self.view_history,
            &self.secrets,
        )?)
    }
}

/// A snapshot written but not yet usable: its evidence transaction is not committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSnapshot {
    /// The seqno the snapshot was taken at.
    pub seqno: Version,
    /// The seqno of its evidence transaction.
    pub evidence: Version,
    /// `snapshot_<S>_<E>` (without a receipt).
    pub path: PathBuf,
}

/// The Merkle tree a snapshot's frontier gives (checked against the snapshot's root), and
/// the writes that drop the frontier from the restored state.
pub(super) fn restore_tree(
    decoded: &snapshot::DecodedSnapshot,
    snapshot_file: &Path,
) -> Result<(MerkleTree, WriteSet), LedgerError> {
    let invalid = |reason: &str| LedgerError::Invalid {
        path: snapshot_file.to_path_buf(),
        reason: reason.into(),
    };
    let mut frontier = Vec::new();
    let mut drop_tree = WriteSet::default();
    for (k, v, _) in decoded.snapshot.entries(TREE_TABLE) {
        let level = u64::from_be_bytes(k[..].try_into().map_err(|_| invalid("bad tree level"))?);
        let h = Sha256Digest::from_slice(&v).ok_or_else(|| invalid("bad tree node"))?;
        frontier.push((level as u32, h));
        drop_tree.remove(TREE_TABLE, k);
    }
    let tree = MerkleTree::from_frontier(decoded.txid.seqno + 1, &frontier)
        .ok_or_else(|| invalid("incomplete Merkle frontier"))?;
    if tree.root() != Some(decoded.root) {
        return Err(invalid("Merkle frontier does not give the snapshot's root"));
    }
    Ok((tree, drop_tree))
}

impl Journal {
    /// The snapshot of the current state (seqno, bytes).
    pub(super) fn snapshot_bytes_locked(
        &self,
        inner: &Inner,
    ) -> Result<(Version, Vec<u8>), LedgerError> {
        if let Some(m) = &inner.missing {
            // It would lack the private state.
            return Err(LedgerError::PrivateStateMissing { below: m.below });
        }
        if self.store.version() == 0 {
            return Err(LedgerError::Invalid {
                path: self.config.dir.clone(),
                reason: "nothing to snapshot".into(),
            });
        }
        let input = self.snapshot_input(inner);
        let s = input.txid.seqno;
        Ok((s, input.serialize()?))
    }

    /// What serializing the current state needs, taken under the lock (the state itself
    /// only referenced: a pinned version of the store).
    pub(super) fn snapshot_input(&self, inner: &Inner) -> SnapshotInput {
        let snap = self.store.snapshot();
        let s = snap.version();
        let mut tree = WriteSet::default();
        for (level, h) in inner.tree.frontier() {
            tree.put(
                TREE_TABLE,
                (level as u64).to_be_bytes().to_vec(),
                h.0.to_vec(),
            );
        }
        SnapshotInput {
            txid: TxId::new(view_at(&inner.views, s).unwrap_or(0), s),
            state: snap.with_writes(&tree),
            root: inner.tree.root().expect("tree has the zero leaf"),
            view_history: view_history(&inner.views),
            secrets: inner.secrets.clone(),
        }
    }

    /// Backup: write the snapshot reproduced when a replicated evidence transaction
    /// arrived (see [`Journal::append_replicated`]) as `snapshot_<S>_<E>` into `dir`; it is
    /// completed like the primary's once `E` commits.
    /// Also the snapshots serialized off the lock whose evidence arrived
    /// (see [`Journal::set_snapshot_interval`]): call it after appends and now and then.
    pub fn take_replicated_snapshots(
        &self,
        dir: &Path,
    ) -> Result<Vec<PendingSnapshot>, LedgerError> {
        let mut inner = self.lock_live()?;
        let mut out = self.write_awaited_snapshots(&mut inner, dir)?;
        let Some((s, e, bytes)) = inner.replicated_snapshot.take() else {
            return Ok(out);
        };
        drop(inner);
        out.push(self.write_pending(dir, s, e, &bytes)?);
        Ok(out)
    }

    /// Snapshot the current state (at seqno `S`), append its evidence transaction `E`
    /// (not signed yet) and write `snapshot_<S>_<E>` into `dir`. The snapshot becomes
    /// usable once `E` is committed: then [`Journal::complete_snapshot`] appends the receipt
    /// for `E` and renames it `snapshot_<S>_<E>.committed`. If `E` is rolled back instead,
    /// the caller deletes the file.
    /// Refused with [`LedgerError::PrivateStateMissing`] while the private state of old
    /// entries is missing (see [`Journal::private_missing_below`]).
    pub fn begin_snapshot(&self, dir: &Path) -> Result<PendingSnapshot, LedgerError> {
        let (s, bytes) = {
            let inner = self.lock();
            self.snapshot_bytes_locked(&inner)?
        };
        self.record_evidence(dir, s, &bytes)
    }

    /// Commit the evidence transaction `E` for the snapshot `bytes` of seqno `s` (not
    /// signed yet) and write them as `snapshot_<s>_<E>` into `dir`.
    pub(super) fn record_evidence(
        &self,
        dir: &Path,
        s: Version,
        bytes: &[u8],
    ) -> Result<PendingSnapshot, LedgerError> {
        let mut tx = self.begin();
        tx.put(
            SNAPSHOT_EVIDENCE,
            bytes::Bytes::from_static(&tables::SINGLETON_KEY),
            serde_json::to_vec(&Evidence {
                hash: sha256(bytes).to_hex(),
                version: s,
            })
            .expect("json"),
        );
        let e = match self.commit(tx)? {
            CommitOutcome::Committed(c) => c.txid.seqno,
            CommitOutcome::ReadOnly { .. } => unreachable!("evidence writes"),
        };
        self.write_pending(dir, s, e, bytes)
    }

    /// `snapshot_<s>_<e>` in `dir`: a snapshot whose evidence `e` is not committed yet.
    pub(super) fn write_pending(
        &self,
        dir: &Path,
        s: Version,
        e: Version,
        bytes: &[u8],
    ) -> Result<PendingSnapshot, LedgerError> {
        let path = write_atomic(
            &*self.config.storage,
            dir,
            &format!("snapshot_{s}_{e}"),
            bytes,
        )?;
        tracing::info!("snapshot at {s} (evidence {e}) pending");
        Ok(PendingSnapshot {
            seqno: s,
            evidence: e,
            path,
        })
    }

    /// Finish a pending snapshot whose evidence is committed: append the receipt for `E`
    /// and rename it `snapshot_<S>_<E>.committed`. Returns the new path.
    pub fn complete_snapshot(&self, p: &PendingSnapshot) -> Result<PathBuf, LedgerError> {
        drop(self.lock_live()?);
        let receipt = serde_json::to_vec(&self.receipt(p.evidence)?).expect("json");
        // The receipt goes right after the snapshot entry, in place (the file can be as
        // large as the state: it is not read into memory), then the file takes its
        // committed name. A pending name is never used, so a crash in between leaves
        // nothing usable half-written; a retry rewrites the receipt at the same offset.
        let storage = &*self.config.storage;
        let io = LedgerError::io(&p.path);
        let f = storage
            .open(&p.path, crate::storage::OpenMode::Existing)
            .map_err(LedgerError::io(&p.path))?;
        let mut header = [0u8; consort_kv::entry::HEADER_LEN];
        f.read_at(&mut header, 0)
            .map_err(LedgerError::io(&p.path))?;
        let len = consort_kv::entry::entry_len(&header).ok_or_else(|| LedgerError::Invalid {
            path: p.path.clone(),
            reason: "not a snapshot".into(),
        })?;
        f.set_len(len)
            .and_then(|_| f.write_at(&receipt, len))
            .and_then(|_| f.sync_all())
            .map_err(io)?;
        drop(f);
        let dir = p.path.parent().unwrap_or(Path::new("."));
        let path = dir.join(format!("snapshot_{}_{}.committed", p.seqno, p.evidence));
        storage
            .rename(&p.path, &path)
            .map_err(LedgerError::io(&path))?;
        storage.sync_dir(dir).map_err(LedgerError::io(dir))?;
        Ok(path)
    }

    /// Standing alone: snapshot, sign, and (when the signature commits, as it does with
    /// `commit_on_signature`) complete it. Returns the file's path (`.committed` if done).
    /// Refused like [`Journal::begin_snapshot`] while private state is missing.
    pub fn write_snapshot(&self, dir: &Path) -> Result<PathBuf, LedgerError> {
        let p = self.begin_snapshot(dir)?;
        self.sign()?;
        if self.committed().seqno >= p.evidence {
            self.complete_snapshot(&p)
        } else {
            Ok(p.path)
        }
    }

    /// Start a journal (in an empty ledger directory) from a committed snapshot file, as a
    /// joining node does; the entries after the snapshot then come through
    /// [`Journal::append_replicated`].
    pub fn open_from_snapshot(
        config: JournalConfig,
        store: Arc<Store>,
        node: Arc<NodeIdentity>,
        secrets: LedgerSecrets,
        snapshot_file: &Path,
        service_cert: &Certificate,
    ) -> Result<Self, LedgerError> {
        let invalid = |reason: String| LedgerError::Invalid {
            path: snapshot_file.to_path_buf(),
            reason,
        };
        let bytes = config
            .storage
            .read(snapshot_file)
            .map_err(LedgerError::io(snapshot_file))?;
        let len =
            entry::entry_len(&bytes).ok_or_else(|| invalid("truncated snapshot".into()))? as usize;
        if len > bytes.len() {
            return Err(invalid("truncated snapshot".into()));
        }
        let (entry_bytes, receipt_bytes) = bytes.split_at(len);
        let receipt: Receipt = serde_json::from_slice(receipt_bytes).map_err(|e| {
            invalid(format!(
                "no valid receipt after the snapshot (is it committed?): {e}"
            ))
        })?;
        let evidence_txid = receipt
            .verify(service_cert)
            .map_err(|e| invalid(format!("snapshot receipt: {e}")))?;
        let decoded =
            snapshot::decode_snapshot(entry_bytes, &secrets).map_err(|e| invalid(e.to_string()))?;
        let s = decoded.txid.seqno;
        if evidence_txid.seqno <= s {
            return Err(invalid(
                "snapshot evidence must come after the snapshot".into(),
            ));
        }
        let (tree, drop_tree) = restore_tree(&decoded, snapshot_file)?;
        let (mut files, _) =
            LedgerFiles::open_in(config.storage.clone(), &config.dir, config.chunk_threshold)?;
        // A node restarting after it joined from this snapshot resumes its ledger suffix.
        let resume = !files.chunk_files().is_empty();
        let held = files.last_seqno();
        if resume {
            if files.first_seqno() != s + 1 {
                return Err(invalid(format!(
                    "the ledger starts at {}, not right after the snapshot at {s}",
                    files.first_seqno()
                )));
            }
        } else {
            files.start_at(s + 1)?;
        }
        if store.version() != 0 {
            return Err(invalid("the store must be empty".into()));
        }
        store.reset_to(decoded.snapshot.with_writes(&drop_tree));
        store.set_view(decoded.txid.view.max(1));
        // The views before the snapshot, from its view history (the first seqno of each
        // view), so that snapshots this node writes record the same history.
        let mut views = BTreeMap::new();
        for (v, first) in decoded.view_history.iter().enumerate() {
            if *first > 0 && *first <= s {
                views.insert(*first, v as View);
            }
        }
        views.insert(s, decoded.txid.view);
        let mut inner = Inner::new(
            files,
            tree,
            secrets,
            Default::default(),
            views,
            decoded.txid,
        );
        inner.pending_evidence = Some(PendingEvidence {
            evidence_seqno: evidence_txid.seqno,
            write_set_digest: receipt.leaf_components.write_set_digest,
            snapshot_hash: sha256(entry_bytes),
        });
        let journal = Self {
            store,
            node,
            inner: Mutex::new(inner),
            config,
        };
        if resume {
            // Every entry is checked as a replicated one would be; the unsigned tail goes.
            for seqno in s + 1..=held {
                let bytes = journal.lock().files.read_entry(seqno)?;
                journal.apply_replicated(&bytes, false)?;
            }
            let signed = journal.last_signature().unwrap_or(s).max(s);
            if held > signed {
                journal.rollback(signed)?;
            }
            journal.store.set_view(journal.store.view() + 1);
        }
        journal.check_seams(&journal.lock());
        Ok(journal)
    }
}
