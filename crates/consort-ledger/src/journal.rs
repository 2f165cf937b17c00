//! The journal: KV transactions become ledger entries.
//!
//! [`Journal::commit`] validates a transaction in the [`Store`], serializes its write set
//! (encrypting private maps), appends it to the chunk files and its leaf to the Merkle
//! tree, all under one lock so that ledger order is version order. Every
//! `sig_tx_interval` transactions (or `sig_ms_interval` of wall time, driven by
//! [`Journal::tick`]) it appends a signature transaction over the Merkle root, fsyncs, and
//! (standing alone, without consensus) commits everything up to it.
//!
//! [`Journal::open`] is restart: every entry is re-verified (structure, GCM tag, Merkle
//! roots, node signatures), the store and tree are rebuilt, and the unsigned tail is
//! rolled back. The next transactions use a new view so no IV is ever reused.
//!
//! Disaster recovery (see `journal_recovery.rs`): [`Journal::open_for_recovery`] reopens
//! an old service's ledger with no secret, applying public domains only, and continues it
//! as a new service two views on; [`Journal::recover_private`] later decrypts the old
//! private domains with the restored secrets. Wherever an entry is replayed or replicated
//! and no known secret covers it, it is applied public-only and
//! [`Journal::private_missing_below`] says so; snapshots wait until the state is whole.
//!
//! A failed write or fsync of the files after the store and tree changed (or a detected
//! disagreement between them) stops the journal: every later change returns the same
//! [`LedgerError::Fatal`], and reopening recovers from the files. Errors that change
//! nothing (a conflict, a refused replicated entry) leave it running.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{Arc, Mutex, MutexGuard},
    time::Instant,
};

use base64::Engine;
use bytes::Bytes;
use consort_crypto::{cert::Certificate, sha256, Sha256Digest};
use consort_kv::{
    entry::{self, EntryMeta, EntryView},
    CommitError, CommitOutcome, Committed, LedgerSecrets, Store, Tx, TxId, Version, View,
};

use crate::{
    files::{LedgerFiles, RecoveryReport, DEFAULT_CHUNK_THRESHOLD},
    identity::NodeIdentity,
    merkle::MerkleTree,
    receipt::{LeafComponents, Receipt},
    storage::{DiskStorage, Storage},
    tables::{self, NodeInfo, ServiceInfo, SignatureRecord},
    verify::{leaf_of, Auditor},
    LedgerError,
};

/// Journal settings.
#[derive(Debug, Clone)]
pub struct JournalConfig {
    pub dir: PathBuf,
    /// Complete a chunk at the first signature after it reaches this many bytes.
    pub chunk_threshold: u64,
    /// Emit a signature after this many transactions.
    pub sig_tx_interval: u64,
    /// Emit a signature when this much time passed since the last one (see [`Journal::tick`]).
    pub sig_ms_interval: u64,
    /// Standing alone (no consensus), a durable signature commits everything before it.
    pub commit_on_signature: bool,
    /// Where the ledger directory and snapshot files live ([`DiskStorage`] by default; an
    /// in-memory disk with injected faults in simulations).
    pub storage: Arc<dyn Storage>,
    /// Serialize pinned snapshots on a thread of their own (`false`: at once, under the
    /// lock — for deterministic simulations; see [`Journal::set_snapshot_interval`]).
    pub snapshot_threads: bool,
}

impl JournalConfig {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            chunk_threshold: DEFAULT_CHUNK_THRESHOLD,
            sig_tx_interval: 5000,
            sig_ms_interval: 1000,
            commit_on_signature: true,
            storage: Arc::new(DiskStorage),
            snapshot_threads: true,
        }
    }
}

/// What [`Journal::open`] did.
#[derive(Debug, Clone, Default)]
pub struct OpenReport {
    pub files: RecoveryReport,
    /// Transactions replayed and verified.
    pub replayed: u64,
    /// Transactions after the last signature that were rolled back.
    pub rolled_back: u64,
    pub last_signature: Option<TxId>,
}

#[derive(Debug)]
struct Inner {
    files: LedgerFiles,
    tree: MerkleTree,
    secrets: LedgerSecrets,
    signatures: receipts::Signatures,
    /// First seqno of each view present in the ledger.
    views: BTreeMap<Version, View>,
    txs_since_sig: u64,
    /// When the last signature was due, on the caller's clock (ms; see [`Journal::tick_ms`]).
    last_sig_at: Option<u64>,
    /// The first `Instant` given to [`Journal::tick`]: its ms count from zero there.
    tick_epoch: Option<Instant>,
    committed: TxId,
    /// For a journal started from a snapshot: the evidence still to be checked.
    pending_evidence: Option<snapshot_support::PendingEvidence>,
    /// Backup: the snapshot a replicated evidence transaction named, reproduced here
    /// (seqno, evidence seqno, bytes), until [`Journal::take_replicated_snapshot`].
    replicated_snapshot: Option<(Version, Version, Vec<u8>)>,
    /// Set once the files and the state may disagree: the cause of the
    /// [`LedgerError::Fatal`] every later change returns.
    fatal: Option<Arc<LedgerError>>,
    /// Set while the private state of old entries is missing (a recovering service).
    missing: Option<MissingPrivate>,
    /// Snapshots being serialized off the lock.
    snapshot_jobs: snapshot_jobs::SnapshotJobs,
}

impl Inner {
    fn new(
        files: LedgerFiles,
        tree: MerkleTree,
        secrets: LedgerSecrets,
        signatures: receipts::Signatures,
        views: BTreeMap<Version, View>,
        committed: TxId,
    ) -> Self {
        Self {
            files,
            tree,
            secrets,
            signatures,
            views,
            txs_since_sig: 0,
            last_sig_at: None,
            tick_epoch: None,
            committed,
            pending_evidence: None,
            replicated_snapshot: None,
            fatal: None,
            missing: None,
            snapshot_jobs: Default::default(),
        }
    }

    /// Refuse with [`LedgerError::PrivateStateMissing`] if the private state of `seqno`
    /// is missing.
    fn private_known(&self, seqno: Version) -> Result<(), LedgerError> {
        match &self.missing {
            Some(m) if seqno < m.below => Err(LedgerError::PrivateStateMissing { below: m.below }),
            _ => Ok(()),
        }
    }

    /// The fatal error, if the journal is stopped.
    fn live(&self) -> Result<(), LedgerError> {
        match &self.fatal {
            Some(cause) => Err(LedgerError::Fatal(cause.clone())),
            None => Ok(()),
        }
    }

    /// Stop the journal: `e` happened after the state or the files changed, so they may no
    /// longer match. Returns the fatal error (the first one, if already stopped).
    fn poison(&mut self, e: LedgerError) -> LedgerError {
        if self.fatal.is_none() {
            tracing::error!("ledger journal stopped: {e}");
            self.fatal = Some(match e.into_fatal() {
                LedgerError::Fatal(cause) => cause,
                _ => unreachable!("into_fatal gives Fatal"),
            });
        }
        LedgerError::Fatal(self.fatal.clone().expect("just set"))
    }

    /// The files gave `seqno` to the entry the store numbered `txid`: stop.
    fn diverged(&mut self, seqno: Version, txid: TxId) -> LedgerError {
        self.poison(LedgerError::Corrupt {
            seqno,
            reason: format!("ledger and store disagree: store assigned {txid}"),
        })
    }
}

/// KV store + ledger files + Merkle tree + signatures.
#[derive(Debug)]
pub struct Journal {
    store: Arc<Store>,
    config: JournalConfig,
    node: Arc<NodeIdentity>,
    inner: Mutex<Inner>,
}

impl Journal {
    /// Start a new ledger in an empty directory, at view 1.
    pub fn create(
        config: JournalConfig,
        store: Arc<Store>,
        node: Arc<NodeIdentity>,
        secrets: LedgerSecrets,
    ) -> Result<Self, LedgerError> {
        let (files, _) =
            LedgerFiles::open_in(config.storage.clone(), &config.dir, config.chunk_threshold)?;
        if files.last_seqno() != 0 {
            return Err(LedgerError::Invalid {
                path: config.dir.clone(),
                reason: "directory already holds a ledger; open it instead".into(),
            });
        }
        if store.version() != 0 {
            return Err(LedgerError::Invalid {
                path: config.dir.clone(),
                reason: "the store must be empty".into(),
            });
        }
        store.set_view(store.view().max(1));
        let mut tree = MerkleTree::new();
        tree.append(Sha256Digest::ZERO);
        Ok(Self {
            store,
            node,
            inner: Mutex::new(Inner::new(
                files,
                tree,
                secrets,
                Default::default(),
                BTreeMap::new(),
                TxId::default(),
            )),
            config,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .expect("journal lock poisoned: a thread panicked while changing the ledger; stopping")
    }

    /// The lock, for a change: refused once the journal is stopped.
    fn lock_live(&self) -> Result<MutexGuard<'_, Inner>, LedgerError> {
        let inner = self.lock();
        inner.live()?;
        Ok(inner)
    }

    /// The error that stopped this journal, if any (see [`LedgerError::Fatal`]).
    pub fn fatal_error(&self) -> Option<LedgerError> {
        self.lock().live().err()
    }

    /// Invariants between the store, the files and the tree, checked where they meet:
    /// transaction `i` is ledger entry `i` and Merkle leaf `i` (leaf 0 is zeros).
    fn check_seams(&self, inner: &Inner) {
        let version = self.store.version();
        assert_eq!(
            inner.files.last_seqno(),
            version,
            "ledger seqno and store version differ"
        );
        assert_eq!(
            inner.tree.len(),
            version + 1,
            "Merkle tree size is not the store version + 1"
        );
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn node(&self) -> &NodeIdentity {
        &self.node
    }

    pub fn config(&self) -> &JournalConfig {
        &self.config
    }

    /// Begin a transaction on the current state.
    pub fn begin(&self) -> Tx {
        self.store.begin()
    }

    /// Commit `tx`: validate, serialize, append. May append a signature after it.
    pub fn commit(&self, tx: Tx) -> Result<CommitOutcome, LedgerError> {
        let claims = tx.claims_digest().unwrap_or(Sha256Digest::ZERO);
        let mut inner = self.lock_live()?;
        let outcome = self.commit_locked(&mut inner, tx, claims)?;
        if matches!(outcome, CommitOutcome::Committed(_)) {
            inner.txs_since_sig += 1;
            if inner.txs_since_sig >= self.config.sig_tx_interval {
                self.sign_locked(&mut inner)?;
            }
        }
        Ok(outcome)
    }

    fn commit_locked(
        &self,
        inner: &mut Inner,
        tx: Tx,
        claims: Sha256Digest,
    ) -> Result<CommitOutcome, LedgerError> {
        self.check_seams(inner);
        let r = self
            .store
            .commit(tx, |c: &Committed| append_entry(inner, c, claims));
        match r {
            Ok(o) => {
                self.check_seams(inner);
                Ok(o)
            }
            Err(CommitError::Kv(e)) => Err(e.into()),
            Err(CommitError::Hook(e)) => Err(e),
        }
    }

    /// [`Journal::tick_ms`] on the wall clock: ms since the first `Instant` this journal
    /// was ticked with.
    pub fn tick(&self, now: Instant) -> Result<Option<TxId>, LedgerError> {
        let epoch = *self.lock().tick_epoch.get_or_insert(now);
        self.tick_ms(now.saturating_duration_since(epoch).as_millis() as u64)
    }

    /// Append a signature transaction now if any transaction is unsigned and the time
    /// interval has passed since the last signature. `now_ms` comes from the caller's
    /// monotonic clock, in ms (a simulation passes simulated time).
    pub fn tick_ms(&self, now_ms: u64) -> Result<Option<TxId>, LedgerError> {
        let mut inner = self.lock_live()?;
        let due = match inner.last_sig_at {
            None => {
                inner.last_sig_at = Some(now_ms);
                false
            }
            Some(t) => now_ms.saturating_sub(t) >= self.config.sig_ms_interval,
        };
        if due && inner.txs_since_sig > 0 {
            let id = self.sign_locked(&mut inner)?;
            inner.last_sig_at = Some(now_ms);
            return Ok(Some(id));
        }
        Ok(None)
    }

    /// Append a signature transaction over the current Merkle root.
    pub fn sign(&self) -> Result<TxId, LedgerError> {
        let mut inner = self.lock_live()?;
        self.sign_locked(&mut inner)
    }

    fn sign_locked(&self, inner: &mut Inner) -> Result<TxId, LedgerError> {
        let root = inner.tree.root().expect("tree has the zero leaf");
        let txid = TxId::new(self.store.view(), self.store.version() + 1);
        let sig = self.node.key.sign_digest_sha256(&root)?;
        let rec = SignatureRecord {
            sig: base64::engine::general_purpose::STANDARD.encode(sig),
            node: self.node.node_id.clone(),
            seqno: txid.seqno,
            view: txid.view,
            commit_seqno: inner.committed.seqno,
            commit_view: inner.committed.view,
            root: root.to_hex(),
            cert: self.node.cert.to_pem(),
        };
        let mut tx = self.store.begin();
        tx.put(
            tables::SIGNATURES,
            Bytes::from_static(&tables::SINGLETON_KEY),
            serde_json::to_vec(&rec).expect("serializable"),
        );
        let got = match self.commit_locked(inner, tx, Sha256Digest::ZERO)? {
            CommitOutcome::Committed(c) => c.txid,
            CommitOutcome::ReadOnly { .. } => unreachable!("signature writes"),
        };
        debug_assert_eq!(got, txid);
        let prev = inner.signatures.last();
        inner.signatures.insert(got.seqno, rec);
        let base = inner.files.first_seqno().saturating_sub(1);
        self.maybe_pin_snapshot(inner, got.seqno, prev.unwrap_or(base));
        inner.txs_since_sig = 0;
        // The signature is in the store and the tree: failing to make it durable is fatal.
        if let Err(e) = inner.files.after_signature() {
            return Err(inner.poison(e));
        }
        if self.config.commit_on_signature {
            commit_to_locked(inner, &self.store, got)?;
        }
        Ok(got)
    }

    /// Write buffered entries to the chunk file (without fsync). Signatures always do this
    /// and fsync; unsigned entries may otherwise sit in memory until the next one. A failed
    /// write is fatal (the entries are in the store already).
    pub fn flush(&self) -> Result<(), LedgerError> {
        let mut inner = self.lock_live()?;
        inner.files.flush().map_err(|e| inner.poison(e))
    }

    /// Mark everything up to `txid` committed (consensus calls this).
    pub fn commit_to(&self, txid: TxId) -> Result<(), LedgerError> {
        let mut inner = self.lock_live()?;
        commit_to_locked(&mut inner, &self.store, txid)
    }

    /// Discard every uncommitted transaction after `seqno`.
    pub fn rollback(&self, seqno: Version) -> Result<(), LedgerError> {
        let mut inner = self.lock_live()?;
        if seqno < inner.committed.seqno {
            return Err(LedgerError::TruncateCommitted {
                target: seqno,
                committed: inner.committed.seqno,
            });
        }
        let version = self.store.version();
        if seqno > version {
            return Err(consort_kv::KvError::RollbackOutOfRange {
                target: seqno,
                min: self.store.oldest_rollback_point(),
                max: version,
            }
            .into());
        }
        self.check_seams(&inner);
        if let Err(e) = inner.files.truncate(seqno) {
            return Err(inner.poison(e));
        }
        if let Err(e) = self.store.rollback(seqno) {
            return Err(inner.poison(e.into()));
        }
        inner.tree.truncate(seqno + 1);
        let _ = inner.views.split_off(&(seqno + 1));
        inner.secrets.remove_after(seqno + 1);
        inner.signatures.truncate_after(seqno);
        inner.snapshot_jobs.rolled_back(seqno);
        if inner.missing.as_mut().is_some_and(|m| !m.rollback(seqno)) {
            inner.missing = None;
        }
        Ok(())
    }

    /// The status of transaction `txid`.
    pub fn tx_status(&self, txid: TxId) -> TxStatus {
        let inner = self.lock();
        let last = self.store.version();
        if txid.seqno == 0 {
            return TxStatus::Invalid;
        }
        if txid.seqno > last {
            // A future seqno: possible only in the current view or a later one.
            return if txid.view >= self.store.view() {
                TxStatus::Unknown
            } else {
                TxStatus::Invalid
            };
        }
        match view_at(&inner.views, txid.seqno) {
            Some(v) if v == txid.view => {
                if txid.seqno <= inner.committed.seqno {
                    TxStatus::Committed
                } else {
                    TxStatus::Pending
                }
            }
            Some(v) if v < txid.view && txid.seqno > inner.committed.seqno => TxStatus::Unknown,
            _ => TxStatus::Invalid,
        }
    }

    /// The view transaction `seqno` was written in.
    pub fn view_of(&self, seqno: Version) -> Option<View> {
        if seqno == 0 || seqno > self.store.version() {
            return None;
        }
        view_at(&self.lock().views, seqno)
    }

    /// The last committed transaction.
    pub fn committed(&self) -> TxId {
        self.lock().committed
    }

    /// The last transaction appended.
    pub fn last_txid(&self) -> TxId {
        TxId::new(self.store.view(), self.store.version())
    }

    /// Seqno of the last signature, if any.
    pub fn last_signature(&self) -> Option<Version> {
        self.lock().signatures.last()
    }

    /// The first seqno this ledger holds (after the snapshot it started from, if any).
    pub fn first_seqno(&self) -> Version {
        self.lock().files.first_seqno()
    }

    /// Rotate the ledger secret in `tx`: a new secret, wrapped under the latest, in
    /// [`REKEY_TABLE`]; every node holding the ledger learns it when the transaction is
    /// appended and uses it from the next one. (Reads the table, so that two concurrent
    /// rekeys conflict rather than both wrap under the same secret.)
    pub fn rekey(&self, tx: &mut Tx) -> Result<Rekey, LedgerError> {
        let _ = tx.get(REKEY_TABLE, &tables::SINGLETON_KEY);
        let next = consort_kv::LedgerSecret::generate()?;
        let (previous_from, previous) = self.latest_secret()?;
        let wrapped = previous.wrap(&next)?;
        tx.put(
            REKEY_TABLE,
            Bytes::from_static(&tables::SINGLETON_KEY),
            wrapped,
        );
        Ok(Rekey {
            next,
            previous,
            previous_from,
        })
    }

    /// The newest ledger secret, with the seqno it is used from (what encrypts the next
    /// transaction's private domain).
    pub fn latest_secret(&self) -> Result<(Version, Arc<consort_kv::LedgerSecret>), LedgerError> {
        let inner = self.lock();
        let (v, s) = inner
            .secrets
            .latest()
            .ok_or(consort_kv::KvError::NoSecret(Version::MAX))?;
        Ok((v, s.clone()))
    }

    /// The ledger secret used at seqno `version`.
    pub fn secret_for(
        &self,
        version: Version,
    ) -> Result<Arc<consort_kv::LedgerSecret>, LedgerError> {
        Ok(self.lock().secrets.for_version(version)?.clone())
    }

    /// Every ledger secret this journal holds, with the seqno it starts at.
    pub fn export_secrets(&self) -> Vec<(Version, [u8; 32])> {
        self.lock().secrets.export()
    }

    /// The ledger secrets whose introduction is committed (what a joining node may keep;
    /// later ones it learns by replication, and loses if they are rolled back).
    pub fn export_committed_secrets(&self) -> Vec<(Version, [u8; 32])> {
        let inner = self.lock();
        let committed = inner.committed.seqno;
        inner
            .secrets
            .export()
            .into_iter()
            .filter(|(from, _)| *from <= committed + 1)
            .collect()
    }

    /// Whether transaction `seqno` is a signature transaction.
    pub fn is_signature(&self, seqno: Version) -> bool {
        self.lock().signatures.contains(seqno)
    }

    /// Current Merkle root (over every transaction appended so far).
    pub fn merkle_root(&self) -> Sha256Digest {
        self.lock().tree.root().expect("tree has the zero leaf")
    }

    /// Raw bytes of entry `seqno`.
    pub fn read_entry(&self, seqno: Version) -> Result<Vec<u8>, LedgerError> {
        self.lock().files.read_entry(seqno)
    }

    /// Decode (and decrypt) entry `seqno`, for historical queries. Refused with
    /// [`LedgerError::PrivateStateMissing`] for an entry whose private state is missing
    /// (see [`Journal::private_missing_below`]).
    pub fn decode_entry(&self, seqno: Version) -> Result<entry::DecodedEntry, LedgerError> {
        let inner = self.lock();
        inner.private_known(seqno)?;
        let bytes = inner.files.read_entry(seqno)?;
        Ok(entry::decode_entry(&bytes, &inner.secrets)?)
    }
}

fn append_entry(inner: &mut Inner, c: &Committed, claims: Sha256Digest) -> Result<(), LedgerError> {
    let secret = inner.secrets.for_version(c.txid.seqno)?;
    let commit_evidence_digest = secret.commit_evidence_digest(c.txid);
    let meta = EntryMeta {
        txid: c.txid,
        claims_digest: claims,
        commit_evidence_digest,
        max_conflict_version: c.read_version as i64,
        read_version: c.read_version,
        flags: 0,
    };
    let bytes = entry::serialize_entry(&meta, &c.write_set, &inner.secrets)?;
    // Everything that can fail comes before the first change to files or tree; a failure
    // of the files after that is fatal.
    let next = next_secret(&inner.secrets, c.txid.seqno, &c.write_set)?;
    match inner.files.append(&bytes) {
        Ok(seqno) if seqno == c.txid.seqno => {}
        Ok(seqno) => return Err(inner.diverged(seqno, c.txid)),
        Err(e) => return Err(inner.poison(e)),
    }
    let wsd = sha256(&bytes);
    let leaf = consort_crypto::sha256_concat(&[
        wsd.as_bytes(),
        commit_evidence_digest.as_bytes(),
        claims.as_bytes(),
    ]);
    debug_assert_eq!(
        leaf,
        leaf_of(
            &wsd,
            &entry::decode_public(EntryView::parse(&bytes)?.public)?
        )
    );
    inner.tree.append(leaf);
    note_view(&mut inner.views, c.txid);
    if let Some(s) = next {
        inner.secrets.add(c.txid.seqno + 1, s);
    }
    note_private(&mut inner.missing, c.txid.seqno, false, &c.write_set);
    Ok(())
}

/// Table where a rekey transaction records the next ledger secret, wrapped under the
/// current one; the next secret is used from the transaction after it.
pub const REKEY_TABLE: &str = consort_service::internal::LEDGER_SECRET_REKEY.name();

/// If the transaction at `seqno` is a rekey: the next secret it carries.
fn next_secret(
    secrets: &LedgerSecrets,
    seqno: Version,
    ws: &consort_kv::WriteSet,
) -> Result<Option<consort_kv::LedgerSecret>, LedgerError> {
    let Some(wrapped) = ws
        .maps
        .get(REKEY_TABLE)
        .and_then(|m| m.values().next().cloned().flatten())
    else {
        return Ok(None);
    };
    let next = secrets
        .for_version(seqno)?
        .unwrap_next(&wrapped)
        .map_err(|e| LedgerError::Corrupt {
            seqno,
            reason: format!("rekey: {e}"),
        })?;
    tracing::info!("ledger secret rotated: new secret from {}", seqno + 1);
    Ok(Some(next))
}

/// If the transaction at `seqno` is a rekey, learn the next secret.
fn learn_rekey(
    secrets: &mut LedgerSecrets,
    seqno: Version,
    ws: &consort_kv::WriteSet,
) -> Result<(), LedgerError> {
    if let Some(next) = next_secret(secrets, seqno, ws)? {
        secrets.add(seqno + 1, next);
    }
    Ok(())
}

fn note_view(views: &mut BTreeMap<Version, View>, txid: TxId) {
    if views.values().next_back() != Some(&txid.view) {
        views.insert(txid.seqno, txid.view);
    }
}

fn view_at(views: &BTreeMap<Version, View>, seqno: Version) -> Option<View> {
    views.range(..=seqno).next_back().map(|(_, v)| *v)
}

/// A rekey in a transaction: the next secret (used once the transaction is appended) and
/// the one it replaces.
#[derive(Debug)]
pub struct Rekey {
    pub next: consort_kv::LedgerSecret,
    pub previous: Arc<consort_kv::LedgerSecret>,
    /// The seqno `previous` is used from.
    pub previous_from: Version,
}

/// Status of a transaction id, as CCF's `/node/tx` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum TxStatus {
    /// Not known to this node (it may yet happen).
    Unknown,
    /// Appended here but not yet committed.
    Pending,
    Committed,
    /// Can never be committed (its seqno was taken in another view).
    Invalid,
}

fn commit_to_locked(inner: &mut Inner, store: &Store, txid: TxId) -> Result<(), LedgerError> {
    if txid.seqno <= inner.committed.seqno {
        return Ok(());
    }
    if let Err(e) = inner.files.commit(txid.seqno) {
        return Err(inner.poison(e));
    }
    store.compact(txid.seqno);
    inner.tree.flush(txid.seqno);
    inner.signatures.forget_below(txid.seqno);
    inner.committed = txid;
    Ok(())
}

#[path = "journal_receipts.rs"]
mod receipts;
#[path = "journal_recovery.rs"]
mod recovery;
#[path = "journal_replay.rs"]
mod replay;
#[path = "journal_replication.rs"]
mod replication;
pub use recovery::RecoveryOpen;
use recovery::{note_private, MissingPrivate};
pub use replication::StoredEntry;
#[path = "journal_service.rs"]
mod service;
#[path = "journal_snapshot_jobs.rs"]
mod snapshot_jobs;
#[path = "journal_snapshot.rs"]
mod snapshot_support;
pub use snapshot_support::{PendingSnapshot, SNAPSHOT_EVIDENCE, TREE_TABLE};

#[cfg(test)]
#[path = "journal_test.rs"]
mod journal_test;

#[cfg(test)]
#[path = "journal_fault_test.rs"]
mod journal_fault_test;

#[cfg(test)]
#[path = "replication_test.rs"]
mod replication_test;

#[cfg(test)]
#[path = "snapshot_jobs_test.rs"]
mod snapshot_jobs_test;
