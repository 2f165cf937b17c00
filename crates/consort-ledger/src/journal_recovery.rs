//! Disaster recovery, as CCF does it: every node of a service is lost, and a new node
//! starts from a copy of an old ledger directory with no ledger secret.
//!
//! 1. [`Journal::open_for_recovery`] (or [`Journal::open_for_recovery_from_snapshot`])
//!    audits every entry as [`Journal::open`] does (structure, Merkle tree, node
//!    signatures), applies only their public domains, truncates the unsigned tail and
//!    continues the ledger as a new service: two views on, in a new chunk, under a new
//!    ledger secret from `R` = last signed seqno + 1. The private state of seqnos `< R` is
//!    missing ([`Journal::private_missing_below`] is `Some(R)`): snapshots and decoding old
//!    entries are refused meanwhile.
//! 2. Once members restored the old ledger secrets, [`Journal::recover_private`] decrypts
//!    the private domain of every old entry (and of the snapshot it started from) into a
//!    separate store, without holding the journal lock, and merges it into the live state:
//!    what the new service wrote since `R` wins.
//!
//! A node restarting in between reopens with [`Journal::open`] (or
//! [`Journal::reopen_recovering_from_snapshot`]) and the secrets from `R` on: entries that
//! no known secret covers are applied public-only again (so are replicated ones on a
//! backup, see [`Journal::append_replicated`]).

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

use consort_kv::{entry::PublicDomain, snapshot, KvError, LedgerSecret, WriteSet};

use super::*;

/// Entries read under the journal lock at a time by [`Journal::recover_private`].
const RECOVERY_BATCH: usize = 4096;
/// [`Journal::recover_private`] reports progress after about this many entries.
const PROGRESS_EVERY: u64 = 50_000;

/// The private state below `below` is missing: what recovering it needs to know.
#[derive(Debug)]
pub(super) struct MissingPrivate {
    pub(super) below: Version,
    /// The private keys each transaction from `below` on wrote or removed (they keep their
    /// newer state when the old one comes back).
    written: BTreeMap<Version, Vec<(String, Bytes)>>,
    /// The snapshot the state started from, if any (its private maps are missing too).
    snapshot: Option<RecoverySnapshot>,
}

/// A snapshot whose public maps a recovering journal started from.
#[derive(Debug, Clone)]
struct RecoverySnapshot {
    path: PathBuf,
    seqno: Version,
    /// SHA-256 of the snapshot entry, as audited at open.
    hash: Sha256Digest,
}

impl MissingPrivate {
    fn new(below: Version, snapshot: Option<RecoverySnapshot>) -> Self {
        Self {
            below,
            written: BTreeMap::new(),
            snapshot,
        }
    }

    /// Everything after `seqno` was rolled back. Returns whether private state is still
    /// missing.
    pub(super) fn rollback(&mut self, seqno: Version) -> bool {
        let _ = self.written.split_off(&(seqno + 1));
        self.below = self.below.min(seqno + 1);
        self.below > 1 || self.snapshot.is_some()
    }

    fn written_keys(&self) -> BTreeMap<String, BTreeSet<Bytes>> {
        let mut out: BTreeMap<String, BTreeSet<Bytes>> = BTreeMap::new();
        for (map, key) in self.written.values().flatten() {
            out.entry(map.clone()).or_default().insert(key.clone());
        }
        out
    }
}

/// Record what applying `ws` as `seqno` means for missing private state: a public-only
/// entry extends it; while it is missing, the private keys a later entry writes are noted.
pub(super) fn note_private(
    missing: &mut Option<MissingPrivate>,
    seqno: Version,
    public_only: bool,
    ws: &WriteSet,
) {
    if public_only {
        match missing {
            Some(m) => m.below = m.below.max(seqno + 1),
            None => *missing = Some(MissingPrivate::new(seqno + 1, None)),
        }
        return;
    }
    let Some(m) = missing else {
        return;
    };
    debug_assert!(
        seqno >= m.below,
        "a decrypted entry below the missing state"
    );
    let keys: Vec<(String, Bytes)> = ws
        .private()
        .flat_map(|(name, w)| w.keys().map(|k| (name.clone(), k.clone())))
        .collect();
    if !keys.is_empty() {
        m.written.insert(seqno, keys);
    }
}

/// What [`Journal::open_for_recovery`] did.
#[derive(Debug, Clone)]
pub struct RecoveryOpen {
    pub files: RecoveryReport,
    /// Transactions replayed (public-only) and verified, after the snapshot if any.
    pub replayed: u64,
    /// Transactions after the last signature that were rolled back.
    pub rolled_back: u64,
    /// The last signature of the old service (the snapshot's seqno if none follows it).
    pub last_signature: Option<TxId>,
    /// The Merkle root the last signature signed (CCF's
    /// `previous_service_last_signed_root`); with no signature after the snapshot, the
    /// root of the tree at the snapshot; zeros for an empty ledger.
    pub last_signed_root: Sha256Digest,
    /// `R`: the first seqno of the new service, from which `new_secret` is used.
    pub first_new_seqno: Version,
    /// The view the new service's transactions are assigned (last view seen + 2).
    pub view: View,
}

impl Journal {
    /// Open an existing ledger directory with no ledger secret, to continue it as a new
    /// service (disaster recovery). The store must be empty. Every entry is audited as in
    /// [`Journal::open`] and its public domain applied; the unsigned tail is truncated and
    /// everything up to the last signature counts as committed; the store's view becomes
    /// the last view seen + 2; the last chunk is completed, so that the new service's
    /// entries go in a new chunk; `new_secret` is used from `R` = last signed seqno + 1.
    /// The private state before `R` is missing until [`Journal::recover_private`].
    pub fn open_for_recovery(
        config: JournalConfig,
        store: Arc<Store>,
        node: Arc<NodeIdentity>,
        new_secret: LedgerSecret,
    ) -> Result<(Journal, RecoveryOpen), LedgerError> {
        Self::recovery_open(config, store, node, new_secret, None)
    }

    /// [`Journal::open_for_recovery`] starting from a committed snapshot file: only its
    /// public maps are loaded (checked as [`Auditor::from_snapshot`] does: its receipt
    /// against its own service identity, its Merkle frontier against its root, and, when
    /// it is reached, its evidence transaction), then the ledger entries after it are
    /// replayed. The ledger directory must continue the snapshot up to its evidence
    /// transaction at least (entries up to the snapshot, if there, are skipped).
    /// [`Journal::recover_private`] later decrypts the snapshot's private part from the
    /// same file.
    pub fn open_for_recovery_from_snapshot(
        config: JournalConfig,
        store: Arc<Store>,
        node: Arc<NodeIdentity>,
        new_secret: LedgerSecret,
        snapshot_path: &Path,
    ) -> Result<(Journal, RecoveryOpen), LedgerError> {
        let base = load_public_snapshot(&config, &store, snapshot_path)?;
        Self::recovery_open(config, store, node, new_secret, Some(base))
    }

    /// Restart a node of a recovering service that began with
    /// [`Journal::open_for_recovery_from_snapshot`], before [`Journal::recover_private`]:
    /// the snapshot's public maps are loaded again and the ledger after it replayed as
    /// [`Journal::open`] does, with `secrets` (the new service's, from `R` on). The private
    /// state before the first seqno they cover (and the snapshot's) stays missing.
    pub fn reopen_recovering_from_snapshot(
        config: JournalConfig,
        store: Arc<Store>,
        node: Arc<NodeIdentity>,
        secrets: LedgerSecrets,
        snapshot_path: &Path,
    ) -> Result<(Journal, OpenReport), LedgerError> {
        let (auditor, txid, snapshot) = load_public_snapshot(&config, &store, snapshot_path)?;
        let (journal, report, _) =
            Self::reopen(config, store, node, secrets, Some((auditor, txid)), 1)?;
        {
            let mut inner = journal.lock();
            let (below, written) = match inner.missing.take() {
                Some(m) => (m.below, m.written),
                None => (txid.seqno + 1, BTreeMap::new()),
            };
            inner.missing = Some(MissingPrivate {
                below,
                written,
                snapshot: Some(snapshot),
            });
        }
        Ok((journal, report))
    }

    fn recovery_open(
        config: JournalConfig,
        store: Arc<Store>,
        node: Arc<NodeIdentity>,
        new_secret: LedgerSecret,
        base: Option<(Auditor, TxId, RecoverySnapshot)>,
    ) -> Result<(Journal, RecoveryOpen), LedgerError> {
        let (base, snapshot) = match base {
            Some((a, t, s)) => (Some((a, t)), Some(s)),
            None => (None, None),
        };
        let (journal, report, reopened) =
            Self::reopen(config, store, node, LedgerSecrets::default(), base, 2)?;
        let signed = journal.store.version();
        let r = signed + 1;
        let last_signed_root = {
            let mut inner = journal.lock();
            inner.secrets.add(r, new_secret);
            inner.missing = (r > 1 || snapshot.is_some()).then(|| MissingPrivate::new(r, snapshot));
            if signed > inner.committed.seqno {
                let txid = TxId::new(view_at(&inner.views, signed).unwrap_or(0), signed);
                commit_to_locked(&mut inner, &journal.store, txid)?;
            }
            inner.files.complete_chunk()?;
            match inner.signatures.last_record() {
                Some(rec) => {
                    Sha256Digest::from_hex(&rec.root).ok_or_else(|| LedgerError::Corrupt {
                        seqno: rec.seqno,
                        reason: "signature record with a malformed root".into(),
                    })?
                }
                None if signed > 0 => inner.tree.root().expect("tree has the zero leaf"),
                None => Sha256Digest::ZERO,
            }
        };
        let view = reopened.max_view + 2;
        debug_assert_eq!(journal.store.view(), view);
        tracing::info!(
            replayed = report.replayed,
            rolled_back = report.rolled_back,
            "ledger opened for recovery: new service from seqno {r} in view {view}"
        );
        let open = RecoveryOpen {
            files: report.files,
            replayed: report.replayed,
            rolled_back: report.rolled_back,
            last_signature: report.last_signature,
            last_signed_root,
            first_new_seqno: r,
            view,
        };
        Ok((journal, open))
    }

    /// `Some(R)` while the private state of seqnos `< R` is missing: a recovering service
    /// applied them public-only (see [`Journal::open_for_recovery`]).
    pub fn private_missing_below(&self) -> Option<Version> {
        self.lock().missing.as_ref().map(|m| m.below)
    }

    /// The public domain of entry `seqno` (needs no secret).
    pub fn read_public(&self, seqno: Version) -> Result<PublicDomain, LedgerError> {
        let bytes = self.read_entry(seqno)?;
        let view = entry::EntryView::parse(&bytes)?;
        Ok(entry::decode_public(view.public)?)
    }

    /// Bring back the private state missing below `R` ([`Journal::private_missing_below`]),
    /// given every old ledger secret with the seqno it starts at (later ones are ignored).
    /// The private domain of each old entry (and of the snapshot the journal started from,
    /// if any) is decrypted and authenticated, and the old private maps rebuilt in a
    /// separate store, reading the committed entries in batches under the journal lock and
    /// decrypting outside it: new transactions commit meanwhile. Then, under the lock, the
    /// old private state is merged into the live store (a key written or removed from `R`
    /// on keeps its newer state, see [`Store::merge_missing`]), the secrets join the
    /// journal's (receipts, commit evidence and historical queries of old entries work, and
    /// [`Journal::export_secrets`] includes them), and nothing is missing any more.
    ///
    /// Calls `progress(done, total)` every ~50k entries and at the end. Returns the number
    /// of entries recovered (0 if nothing was missing). If an entry fails to decrypt, fails
    /// with [`LedgerError::PrivateRecovery`] naming it, changing nothing.
    pub fn recover_private(
        &self,
        secrets: Vec<(Version, LedgerSecret)>,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<u64, LedgerError> {
        let (below, snapshot, first) = {
            let inner = self.lock_live()?;
            let Some(m) = &inner.missing else {
                return Ok(0);
            };
            if inner.committed.seqno + 1 < m.below {
                return Err(LedgerError::Invalid {
                    path: self.config.dir.clone(),
                    reason: format!(
                        "the entries before {} are not all committed yet (committed: {})",
                        m.below, inner.committed
                    ),
                });
            }
            (m.below, m.snapshot.clone(), inner.files.first_seqno())
        };
        let mut old = LedgerSecrets::default();
        for (from, s) in secrets.into_iter().filter(|(from, _)| *from < below) {
            old.add(from, s);
        }
        let recovered = Store::new();
        let start = match &snapshot {
            Some(s) => {
                self.load_private_snapshot(s, &old, &recovered)?;
                s.seqno + 1
            }
            None if first <= 1 => 1,
            None => {
                return Err(LedgerError::Invalid {
                    path: self.config.dir.clone(),
                    reason: format!("the ledger starts at {first}: the state before is unknown"),
                })
            }
        };
        self.replay_private(&recovered, start, below, &old, progress)?;
        let mut inner = self.lock_live()?;
        let written = match &inner.missing {
            Some(m) if m.below == below => m.written_keys(),
            _ => {
                return Err(LedgerError::Invalid {
                    path: self.config.dir.clone(),
                    reason: "the private state was recovered or rolled back meanwhile".into(),
                })
            }
        };
        let merged = self
            .store
            .merge_missing(&recovered.snapshot(), below, &written)?;
        inner.secrets.extend_missing(&old);
        inner.missing = None;
        tracing::info!(
            entries = below - start,
            keys = merged,
            "private state before seqno {below} recovered"
        );
        Ok(below - start)
    }

    /// Decrypt the private part of the snapshot the journal started from into `into`.
    fn load_private_snapshot(
        &self,
        s: &RecoverySnapshot,
        secrets: &LedgerSecrets,
        into: &Store,
    ) -> Result<(), LedgerError> {
        let bytes = self
            .config
            .storage
            .read(&s.path)
            .map_err(LedgerError::io(&s.path))?;
        let entry_bytes = entry::entry_len(&bytes)
            .and_then(|n| bytes.get(..n as usize))
            .filter(|e| sha256(e) == s.hash)
            .ok_or_else(|| LedgerError::Invalid {
                path: s.path.clone(),
                reason: "the snapshot is not the one the journal was opened from".into(),
            })?;
        let d = snapshot::decode_snapshot(entry_bytes, secrets).map_err(|source| {
            LedgerError::PrivateRecovery {
                seqno: s.seqno,
                source,
            }
        })?;
        into.reset_to(d.snapshot);
        Ok(())
    }

    /// Decrypt the private domains of entries `start..below` and apply them to
    /// `recovered` (which holds the state at `start - 1`).
    fn replay_private(
        &self,
        recovered: &Store,
        start: Version,
        below: Version,
        secrets: &LedgerSecrets,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<(), LedgerError> {
        let total = below - start;
        let (mut plain, mut bytes, mut ranges) = (Vec::new(), Vec::new(), Vec::new());
        let mut seqno = start;
        let mut next_report = PROGRESS_EVERY;
        while seqno < below {
            let want = ((below - seqno) as usize).min(RECOVERY_BATCH);
            // The lock is held for this statement only.
            self.lock_live()?
                .files
                .read_batch(seqno, want, &mut bytes, &mut ranges)?;
            if ranges.is_empty() {
                return Err(LedgerError::UnknownSeqno(seqno));
            }
            for r in ranges.drain(..) {
                apply_private(recovered, seqno, &bytes[r], secrets, &mut plain)
                    .map_err(|source| LedgerError::PrivateRecovery { seqno, source })?;
                seqno += 1;
            }
            recovered.compact(recovered.version());
            if seqno - start >= next_report {
                progress(seqno - start, total);
                next_report = (seqno - start) / PROGRESS_EVERY * PROGRESS_EVERY + PROGRESS_EVERY;
            }
        }
        // The buffer held private plaintext.
        plain.fill(0);
        progress(total, total);
        Ok(())
    }
}

/// Load the public maps of the committed snapshot file at `path` into the empty `store`,
/// checked as [`Auditor::from_snapshot`] does: the auditor to go on with, the snapshot's
/// transaction id, and what recovering its private part needs.
fn load_public_snapshot(
    config: &JournalConfig,
    store: &Store,
    path: &Path,
) -> Result<(Auditor, TxId, RecoverySnapshot), LedgerError> {
    let invalid = |reason: String| LedgerError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = config.storage.read(path).map_err(LedgerError::io(path))?;
    let auditor = Auditor::from_snapshot(&bytes).map_err(|e| invalid(e.to_string()))?;
    let len = entry::entry_len(&bytes).ok_or_else(|| invalid("truncated snapshot".into()))?;
    let entry_bytes = &bytes[..len as usize];
    let (_, decoded) =
        snapshot::decode_snapshot_public(entry_bytes).map_err(|e| invalid(e.to_string()))?;
    let (_, drop_tree) = snapshot_support::restore_tree(&decoded, path)?;
    if store.version() != 0 {
        return Err(invalid("the store must be empty".into()));
    }
    store.reset_to(decoded.snapshot.with_writes(&drop_tree));
    let snapshot = RecoverySnapshot {
        path: path.to_path_buf(),
        seqno: decoded.txid.seqno,
        hash: sha256(entry_bytes),
    };
    Ok((auditor, decoded.txid, snapshot))
}

/// Decrypt (authenticating) the private domain of the entry `bytes` at `seqno` and apply
/// its private writes to `store`.
fn apply_private(
    store: &Store,
    seqno: Version,
    bytes: &[u8],
    secrets: &LedgerSecrets,
    plain: &mut Vec<u8>,
) -> Result<(), KvError> {
    let view = entry::EntryView::parse(bytes)?;
    if view.txid.seqno != seqno || view.bytes.len() != bytes.len() {
        return Err(KvError::Malformed(format!(
            "entry at {seqno} carries {}",
            view.txid
        )));
    }
    let ws = view.decrypt_private_with(secrets, plain)?;
    if let Some(name) = ws.maps.keys().find(|n| consort_kv::is_public(n)) {
        return Err(KvError::Malformed(format!(
            "public map {name} in the private domain"
        )));
    }
    store.apply(view.txid, &ws)
}

#[cfg(test)]
#[path = "journal_recovery_test.rs"]
mod journal_recovery_test;
