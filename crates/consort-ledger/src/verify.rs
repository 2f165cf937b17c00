//! Offline verification of a ledger, needing no secret: the checks an auditor runs.
//!
//! [`Auditor`] takes entries in order and, like `ccf.ledger.LedgerValidator` (and more
//! strictly), checks seqno continuity, the public domain's structure, node and service
//! records, and at every signature transaction: that the signing node is known and not
//! `Pending`, that its certificate is endorsed by the service identity, that the Merkle
//! root over every earlier transaction equals the signed root, and that the ECDSA
//! signature verifies. Any altered, dropped or reordered byte before the last signature
//! changes a leaf and so the root.

use std::{collections::HashMap, path::Path};

use base64::Engine;
use consort_crypto::{cert::Certificate, sha256, sha256_concat, Sha256Digest};
use consort_kv::{
    entry::{self, EntryView, PublicDomain},
    TxId, Version, View,
};
use serde::Serialize;

use crate::{
    check::VerifyError,
    files::scan_dir_in,
    merkle::MerkleTree,
    storage::{DiskStorage, Storage},
    tables::{self, NodeStatus, ServiceStatus, SignatureRecord},
    LedgerError,
};

/// One entry as the auditor saw it.
#[derive(Debug, Clone)]
pub struct AuditedEntry {
    pub txid: TxId,
    pub public: PublicDomain,
    pub write_set_digest: Sha256Digest,
    pub leaf: Sha256Digest,
    pub private_len: usize,
    pub signature: Option<SignatureRecord>,
}

/// The Merkle leaf of an entry: SHA-256 of write-set digest ‖ commit-evidence digest ‖
/// claims digest, with CCF's rules for older entry types.
pub fn leaf_of(write_set_digest: &Sha256Digest, public: &PublicDomain) -> Sha256Digest {
    match (public.commit_evidence_digest, public.claims_digest) {
        (None, None) => *write_set_digest,
        (Some(ce), None) => sha256_concat(&[write_set_digest.as_bytes(), ce.as_bytes()]),
        (ce, Some(claims)) => sha256_concat(&[
            write_set_digest.as_bytes(),
            ce.unwrap_or(Sha256Digest::ZERO).as_bytes(),
            claims.as_bytes(),
        ]),
    }
}

/// Replays entries in order and checks the ledger's integrity.
#[derive(Debug)]
pub struct Auditor {
    tree: MerkleTree,
    next_seqno: Version,
    last_view: View,
    node_certs: HashMap<String, Certificate>,
    node_status: HashMap<String, NodeStatus>,
    service_cert: Option<Certificate>,
    service_status: Option<ServiceStatus>,
    signatures: u64,
    last_signature: Option<TxId>,
    last_txid: Option<TxId>,
    expected_service: Option<Certificate>,
    /// For a ledger that starts after a snapshot: the evidence still to be checked.
    pending: Option<PendingEvidence>,
}

impl Default for Auditor {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(serde::Deserialize)]
struct NodeStatusOnly {
    status: NodeStatus,
}

#[derive(serde::Deserialize)]
struct ServiceOnly {
    cert: String,
    status: ServiceStatus,
}

impl Auditor {
    /// An auditor for a ledger starting at seqno 1 (the tree's leaf 0 is all zeros, as in CCF).
    pub fn new() -> Self {
        let mut tree = MerkleTree::new();
        tree.append(Sha256Digest::ZERO);
        Self {
            tree,
            next_seqno: 1,
            last_view: 0,
            node_certs: HashMap::new(),
            node_status: HashMap::new(),
            service_cert: None,
            service_status: None,
            signatures: 0,
            last_signature: None,
            last_txid: None,
            expected_service: None,
            pending: None,
        }
    }

    /// An auditor for a ledger that continues from the committed snapshot file `file` (as a
    /// node that joined from a snapshot holds): node and service records come from the
    /// snapshot's public maps, the Merkle tree from its frontier (checked against its root),
    /// the evidence receipt must verify against the service identity, and the evidence
    /// transaction, when reached, must name this snapshot. Needs no secret.
    pub fn from_snapshot(file: &[u8]) -> Result<Self, LedgerError> {
        let bad = |reason: String| LedgerError::Invalid {
            path: "<snapshot>".into(),
            reason,
        };
        let len = entry::entry_len(file).ok_or_else(|| bad("truncated snapshot".into()))? as usize;
        if len > file.len() {
            return Err(bad("truncated snapshot".into()));
        }
        let (entry_bytes, receipt_bytes) = file.split_at(len);
        let receipt: crate::Receipt = serde_json::from_slice(receipt_bytes)
            .map_err(|e| bad(format!("no receipt after the snapshot: {e}")))?;
        let (_, d) = consort_kv::snapshot::decode_snapshot_public(entry_bytes)
            .map_err(|e| bad(e.to_string()))?;
        let s = d.txid.seqno;
        let mut a = Auditor::new();
        for (k, v, _) in d.snapshot.entries(tables::NODES_INFO) {
            let n: NodeStatusOnly =
                serde_json::from_slice(&v).map_err(|e| bad(format!("node record: {e}")))?;
            a.node_status
                .insert(String::from_utf8_lossy(&k).into_owned(), n.status);
        }
        for (k, v, _) in d.snapshot.entries(tables::ENDORSED_CERTIFICATES) {
            let c = Certificate::from_pem(&String::from_utf8_lossy(&v))
                .map_err(|e| bad(format!("node certificate: {e}")))?;
            a.node_certs
                .insert(String::from_utf8_lossy(&k).into_owned(), c);
        }
        let svc = d
            .snapshot
            .get(tables::SERVICE_INFO, &tables::SINGLETON_KEY)
            .ok_or_else(|| bad("no service record in the snapshot".into()))?;
        let svc: ServiceOnly =
            serde_json::from_slice(&svc).map_err(|e| bad(format!("service record: {e}")))?;
        let service_cert = Certificate::from_pem(&svc.cert)
            .map_err(|e| bad(format!("service certificate: {e}")))?;
        let evidence = receipt
            .verify(&service_cert)
            .map_err(|e| bad(format!("snapshot receipt: {e}")))?;
        if evidence.seqno <= s {
            return Err(bad("snapshot evidence must come after the snapshot".into()));
        }
        let mut frontier = Vec::new();
        for (k, v, _) in d.snapshot.entries(tables::TREE_TABLE) {
            let level =
                u64::from_be_bytes(k[..].try_into().map_err(|_| bad("bad tree level".into()))?);
            frontier.push((
                level as u32,
                Sha256Digest::from_slice(&v).ok_or_else(|| bad("bad tree node".into()))?,
            ));
        }
        a.tree = MerkleTree::from_frontier(s + 1, &frontier)
            .ok_or_else(|| bad("incomplete Merkle frontier".into()))?;
        if a.tree.root() != Some(d.root) {
            return Err(bad(
                "Merkle frontier does not give the snapshot's root".into()
            ));
        }
        a.service_cert = Some(service_cert);
        a.service_status = Some(svc.status);
        a.next_seqno = s + 1;
        a.last_view = d.txid.view;
        a.last_txid = Some(d.txid);
        a.last_signature = Some(d.txid);
        a.pending = Some(PendingEvidence {
            evidence_seqno: evidence.seqno,
            write_set_digest: receipt.leaf_components.write_set_digest,
            snapshot_hash: sha256(entry_bytes),
        });
        Ok(a)
    }

    /// Also require every service identity recorded in the ledger to be `cert` (what a
    /// client trusts), so that a self-consistent ledger of another service is rejected.
    pub fn with_service_cert(mut self, cert: Certificate) -> Self {
        self.expected_service = Some(cert);
        self
    }

    pub fn tree(&self) -> &MerkleTree {
        &self.tree
    }

    /// Let the tree forget what it needs only for proofs below `upto` (final entries).
    pub fn flush_tree(&mut self, upto: Version) {
        self.tree.flush(upto);
    }

    pub fn into_tree(self) -> MerkleTree {
        self.tree
    }

    pub fn last_signature(&self) -> Option<TxId> {
        self.last_signature
    }

    pub fn last_txid(&self) -> Option<TxId> {
        self.last_txid
    }

    /// For a ledger continuing a snapshot: the seqno of its evidence transaction while
    /// it has not been reached (and checked) yet.
    pub fn pending_evidence(&self) -> Option<Version> {
        self.pending.as_ref().map(|p| p.evidence_seqno)
    }

    pub fn signature_count(&self) -> u64 {
        self.signatures
    }

    /// The service identity certificate recorded in the ledger so far.
    pub fn service_cert(&self) -> Option<&Certificate> {
        self.service_cert.as_ref()
    }

    /// Check and absorb the entry expected at `seqno`.
    pub fn add(&mut self, seqno: Version, bytes: &[u8]) -> Result<AuditedEntry, LedgerError> {
        let corrupt = |reason: String| LedgerError::Corrupt { seqno, reason };
        let rejected = |reason: VerifyError| LedgerError::Verify { seqno, reason };
        self.check_tree_size();
        if seqno != self.next_seqno {
            return Err(corrupt(format!("expected seqno {}", self.next_seqno)));
        }
        let view = EntryView::parse(bytes).map_err(|e| corrupt(e.to_string()))?;
        if view.bytes.len() != bytes.len() {
            return Err(corrupt("trailing bytes after entry".into()));
        }
        if view.txid.seqno != seqno {
            return Err(corrupt(format!(
                "entry header carries seqno {} (entries dropped or reordered)",
                view.txid.seqno
            )));
        }
        if view.is_snapshot {
            return Err(corrupt("snapshot entry inside the ledger".into()));
        }
        if view.version != entry::ENTRY_FORMAT_VERSION {
            return Err(corrupt(format!(
                "unknown entry format version {}",
                view.version
            )));
        }
        if view.flags & !0x3 != 0 {
            return Err(corrupt(format!("unknown entry flags {:#x}", view.flags)));
        }
        if view.txid.view < self.last_view {
            return Err(corrupt(format!(
                "view {} goes back from {}",
                view.txid.view, self.last_view
            )));
        }
        let public = entry::decode_public(view.public).map_err(|e| corrupt(e.to_string()))?;
        if public.seqno != seqno as i64 {
            return Err(corrupt(format!(
                "public domain carries seqno {}",
                public.seqno
            )));
        }
        let write_set_digest = sha256(bytes);
        let leaf = leaf_of(&write_set_digest, &public);
        if let Some(p) = &self.pending {
            p.check(seqno, bytes, &public).map_err(rejected)?;
            if p.seqno() == seqno {
                self.pending = None;
            }
        }

        self.absorb_nodes(seqno, &public)?;
        let mut signature = None;
        if let Some(sigs) = public.maps.get(tables::SIGNATURES) {
            for v in sigs.values() {
                let v = v
                    .as_ref()
                    .ok_or_else(|| corrupt("signature record removed".into()))?;
                let rec: SignatureRecord = serde_json::from_slice(v)
                    .map_err(|e| corrupt(format!("bad signature record: {e}")))?;
                self.check_signature(view.txid, &rec).map_err(rejected)?;
                self.signatures += 1;
                self.last_signature = Some(view.txid);
                signature = Some(rec);
            }
        }
        if let Some(svc) = public.maps.get(tables::SERVICE_INFO) {
            if let Some(Some(v)) = svc.get(&tables::SINGLETON_KEY[..]) {
                let s: ServiceOnly = serde_json::from_slice(v)
                    .map_err(|e| corrupt(format!("bad service record: {e}")))?;
                self.check_service_transition(s.status).map_err(rejected)?;
                let cert = Certificate::from_pem(&s.cert)
                    .map_err(|e| corrupt(format!("service certificate: {e}")))?;
                if self.expected_service.as_ref().is_some_and(|e| *e != cert) {
                    return Err(corrupt(
                        "the ledger's service identity is not the expected service certificate"
                            .into(),
                    ));
                }
                self.service_cert = Some(cert);
                self.service_status = Some(s.status);
            }
        }
        self.tree.append(leaf);
        self.next_seqno += 1;
        self.check_tree_size();
        self.last_view = view.txid.view;
        self.last_txid = Some(view.txid);
        Ok(AuditedEntry {
            txid: view.txid,
            public,
            write_set_digest,
            leaf,
            private_len: view.private.len(),
            signature,
        })
    }

    /// Absorb the node records and endorsed certificates an entry writes.
    fn absorb_nodes(&mut self, seqno: Version, public: &PublicDomain) -> Result<(), LedgerError> {
        let corrupt = |reason: String| LedgerError::Corrupt { seqno, reason };
        if let Some(nodes) = public.maps.get(tables::NODES_INFO) {
            for (k, v) in nodes {
                let id = String::from_utf8(k.to_vec())
                    .map_err(|_| corrupt("node id is not UTF-8".into()))?;
                match v {
                    None => {
                        self.node_status.remove(&id);
                    }
                    Some(v) => {
                        let n: NodeStatusOnly = serde_json::from_slice(v)
                            .map_err(|e| corrupt(format!("bad node record for {id}: {e}")))?;
                        self.node_status.insert(id, n.status);
                    }
                }
            }
        }
        if let Some(certs) = public.maps.get(tables::ENDORSED_CERTIFICATES) {
            for (k, v) in certs {
                let id = String::from_utf8(k.to_vec())
                    .map_err(|_| corrupt("node id is not UTF-8".into()))?;
                match v {
                    None => {
                        self.node_certs.remove(&id);
                    }
                    Some(v) => {
                        let pem = std::str::from_utf8(v)
                            .map_err(|_| corrupt(format!("certificate of {id} is not PEM")))?;
                        let c = Certificate::from_pem(pem)
                            .map_err(|e| corrupt(format!("certificate of {id}: {e}")))?;
                        self.node_certs.insert(id, c);
                    }
                }
            }
        }
        Ok(())
    }

    /// Leaf `i` is transaction `i` (leaf 0 is zeros): the tree holds a leaf for every
    /// transaction before the next expected one.
    fn check_tree_size(&self) {
        assert_eq!(
            self.tree.len(),
            self.next_seqno,
            "auditor: Merkle tree size is not the next seqno (leaf 0 is zeros)"
        );
    }

    fn check_signature(&self, txid: TxId, rec: &SignatureRecord) -> Result<(), VerifyError> {
        check_signature_record(
            txid,
            rec,
            self.node_certs.get(&rec.node),
            self.node_status.get(&rec.node).copied(),
            self.service_cert.as_ref(),
            &self.tree.root().expect("tree has the zero leaf"),
        )
    }

    fn check_service_transition(&self, to: ServiceStatus) -> Result<(), VerifyError> {
        use ServiceStatus::*;
        let ok = match (self.service_status, to) {
            (_, Opening) => true,
            (None, _) => true,
            (Some(a), b) if a == b => true,
            (Some(Opening), Open | WaitingForRecoveryShares) => true,
            // A recovered service: a new identity continues the old ledger (also one
            // whose own recovery never finished).
            (Some(Open | Opening | WaitingForRecoveryShares), Recovering) => true,
            (Some(Recovering), WaitingForRecoveryShares) => true,
            (Some(WaitingForRecoveryShares), Open) => true,
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(VerifyError::ServiceTransition {
                from: self.service_status,
                to,
            })
        }
    }
}

/// Check a signature transaction's record: it names its own position, the signing node is
/// known (`node_cert`), not `Pending`, endorsed by the service identity, the record's
/// certificate carries the node's key, `root` (over every earlier transaction) is the
/// signed root, and the ECDSA signature verifies.
pub fn check_signature_record(
    txid: TxId,
    rec: &SignatureRecord,
    node_cert: Option<&Certificate>,
    node_status: Option<NodeStatus>,
    service_cert: Option<&Certificate>,
    root: &Sha256Digest,
) -> Result<(), VerifyError> {
    if rec.seqno != txid.seqno || rec.view != txid.view {
        return Err(VerifyError::SignaturePosition {
            view: rec.view,
            seqno: rec.seqno,
            at: txid,
        });
    }
    let cert = node_cert.ok_or_else(|| VerifyError::NoEndorsedCertificate(rec.node.clone()))?;
    match node_status {
        None => return Err(VerifyError::UnknownNode(rec.node.clone())),
        Some(NodeStatus::Pending) => return Err(VerifyError::PendingNode(rec.node.clone())),
        Some(_) => {}
    }
    let sig_cert =
        Certificate::from_pem(&rec.cert).map_err(VerifyError::BadSignatureCertificate)?;
    if sig_cert.public_key_der() != cert.public_key_der() {
        return Err(VerifyError::CertificateMismatch(rec.node.clone()));
    }
    let service = service_cert.ok_or(VerifyError::NoServiceIdentity)?;
    cert.verify_issued_by(service)
        .map_err(|source| VerifyError::NotEndorsed {
            node: rec.node.clone(),
            source,
        })?;
    if rec.root != root.to_hex() {
        return Err(VerifyError::RootMismatch {
            computed: *root,
            signed: rec.root.clone(),
        });
    }
    let sig = base64::engine::general_purpose::STANDARD
        .decode(&rec.sig)
        .map_err(VerifyError::SignatureNotBase64)?;
    cert.verifying_key()
        .and_then(|k| k.verify_digest_sha256(root, &sig))
        .map_err(|_| VerifyError::BadSignature(rec.node.clone()))
}

#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct Evidence {
    pub(crate) hash: String,
    pub(crate) version: u64,
}

/// What a journal started from a snapshot still has to check when the evidence arrives.
#[derive(Debug, Clone)]
pub(crate) struct PendingEvidence {
    pub(crate) evidence_seqno: Version,
    pub(crate) write_set_digest: Sha256Digest,
    pub(crate) snapshot_hash: Sha256Digest,
}

impl PendingEvidence {
    /// Called with the entry at `evidence_seqno` before it is applied.
    pub(crate) fn check(
        &self,
        seqno: Version,
        bytes: &[u8],
        public: &entry::PublicDomain,
    ) -> Result<(), VerifyError> {
        if seqno != self.evidence_seqno {
            return Ok(());
        }
        if sha256(bytes) != self.write_set_digest {
            return Err(VerifyError::EvidenceDiffers);
        }
        let ev = public
            .maps
            .get(tables::SNAPSHOT_EVIDENCE)
            .and_then(|w| w.values().next().cloned().flatten())
            .ok_or(VerifyError::NoEvidence)?;
        let ev: Evidence = serde_json::from_slice(&ev).map_err(VerifyError::BadEvidence)?;
        if ev.hash != self.snapshot_hash.to_hex() {
            return Err(VerifyError::WrongSnapshot);
        }
        Ok(())
    }

    pub(crate) fn seqno(&self) -> Version {
        self.evidence_seqno
    }
}

/// Result of [`verify_dir`].
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub chunks: usize,
    pub transactions: u64,
    pub signatures: u64,
    /// Last transaction covered by a verified signature.
    pub verified_up_to: Option<TxId>,
    pub last_txid: Option<TxId>,
    /// Transactions after the last signature (not covered by any signature yet).
    pub unsigned_tail: u64,
}

/// Visit every entry of the ledger in `dir` in order, without modifying anything.
pub fn for_each_entry(
    dir: &Path,
    f: impl FnMut(Version, &[u8]) -> Result<(), LedgerError>,
) -> Result<usize, LedgerError> {
    for_each_entry_in(&DiskStorage, dir, f)
}

/// [`for_each_entry`] on `storage`.
pub fn for_each_entry_in(
    storage: &dyn Storage,
    dir: &Path,
    mut f: impl FnMut(Version, &[u8]) -> Result<(), LedgerError>,
) -> Result<usize, LedgerError> {
    let chunks = scan_dir_in(storage, dir)?;
    if chunks.is_empty() {
        return Err(LedgerError::Invalid {
            path: dir.to_path_buf(),
            reason: "no ledger chunk files (ledger_*) found".into(),
        });
    }
    for c in &chunks {
        let bytes = storage.read(&c.path).map_err(LedgerError::io(&c.path))?;
        let offs = &c.layout.offsets;
        for (i, off) in offs.iter().enumerate() {
            let end = offs.get(i + 1).map_or(c.layout.entries_end, |o| *o as u64) as usize;
            f(c.name.start + i as u64, &bytes[*off as usize..end])?;
        }
        if let Some((seqno, reason)) = &c.problem {
            return Err(LedgerError::Corrupt {
                seqno: *seqno,
                reason: reason.clone(),
            });
        }
        if c.layout.torn_tail > 0 {
            return Err(LedgerError::Corrupt {
                seqno: c.end() + 1,
                reason: format!(
                    "{}: {} bytes of an incomplete entry at the end (torn write)",
                    c.path.display(),
                    c.layout.torn_tail
                ),
            });
        }
    }
    Ok(chunks.len())
}

/// Verify the ledger in `dir` (all chunks, committed or not) with an [`Auditor`].
pub fn verify_dir(dir: &Path) -> Result<VerifyReport, LedgerError> {
    verify_dir_with(dir, Auditor::new())
}

/// [`verify_dir`] with a configured auditor (e.g. [`Auditor::with_service_cert`]).
pub fn verify_dir_with(dir: &Path, auditor: Auditor) -> Result<VerifyReport, LedgerError> {
    verify_dir_with_in(&DiskStorage, dir, auditor)
}

/// [`verify_dir_with`] on `storage`.
pub fn verify_dir_with_in(
    storage: &dyn Storage,
    dir: &Path,
    mut auditor: Auditor,
) -> Result<VerifyReport, LedgerError> {
    let chunks = for_each_entry_in(storage, dir, |seqno, bytes| {
        if auditor.add(seqno, bytes)?.signature.is_some() {
            auditor.flush_tree(seqno);
        }
        Ok(())
    })?;
    if let (Some(e), Some(c)) = (&auditor.expected_service, &auditor.service_cert) {
        if e != c {
            return Err(LedgerError::Corrupt {
                seqno: auditor.next_seqno,
                reason: "the snapshot's service identity is not the expected service certificate"
                    .into(),
            });
        }
    }
    if auditor.expected_service.is_some() && auditor.service_cert.is_none() {
        return Err(LedgerError::Corrupt {
            seqno: 1,
            reason: "no service identity recorded in the ledger".into(),
        });
    }
    let last = auditor.last_txid();
    let signed = auditor.last_signature();
    Ok(VerifyReport {
        chunks,
        transactions: last.map_or(0, |t| t.seqno),
        signatures: auditor.signature_count(),
        verified_up_to: signed,
        last_txid: last,
        unsigned_tail: last.map_or(0, |t| t.seqno) - signed.map_or(0, |t| t.seqno),
    })
}

#[cfg(test)]
#[path = "verify_test.rs"]
mod verify_test;
