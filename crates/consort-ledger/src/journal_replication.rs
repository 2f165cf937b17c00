//! The backup path: entries written by the primary are checked, then appended as they are.
//!
//! Checking changes nothing: a refused entry leaves the journal as it was. Once an entry
//! passed, applying it changes the files, the store and the tree; a failure from then on
//! (a write or fsync of the files) stops the journal ([`LedgerError::Fatal`]).

use consort_kv::entry::DecodedEntry;

use super::*;

/// An entry that passed every check and may be applied.
struct Checked {
    decoded: DecodedEntry,
    signature: Option<SignatureRecord>,
    /// The next ledger secret, if the entry is a rekey.
    next_secret: Option<consort_kv::LedgerSecret>,
    /// The snapshot (seqno, bytes) the entry's evidence names, reproduced here.
    snapshot: Option<(Version, Vec<u8>)>,
    /// No known secret covers the entry: only its public domain is applied.
    public_only: bool,
}

impl Journal {
    /// Backup path: append an entry exactly as the primary wrote it. The entry is
    /// authenticated (GCM tag, with the ledger secret) and decoded (public-only where no
    /// known secret covers it, recording that private state is missing: see
    /// [`Journal::private_missing_below`]), must carry the next
    /// seqno, and a signature entry must sign the Merkle root of everything before it, by a
    /// trusted node whose certificate the service identity endorsed. On any failure of
    /// these checks nothing is applied; a failure to write the files afterwards stops the
    /// journal ([`LedgerError::Fatal`]). Returns the entry's transaction id.
    pub fn append_replicated(&self, bytes: &[u8]) -> Result<TxId, LedgerError> {
        self.apply_replicated(bytes, true)
    }

    /// [`Journal::append_replicated`], or with `write == false` replaying an entry the
    /// ledger files already hold.
    pub(crate) fn apply_replicated(&self, bytes: &[u8], write: bool) -> Result<TxId, LedgerError> {
        let mut inner = self.lock_live()?;
        // Replaying (a restart from a snapshot) the files already hold the entries ahead
        // of the store; the seams are checked once the replay is done.
        if write {
            self.check_seams(&inner);
        }
        let checked = self.check_replicated(&inner, bytes)?;
        self.apply_checked(&mut inner, bytes, checked, write)
    }

    /// Every check of a replicated entry, changing nothing.
    fn check_replicated(&self, inner: &Inner, bytes: &[u8]) -> Result<Checked, LedgerError> {
        let expected = self.store.version() + 1;
        let corrupt = |reason: String| LedgerError::Corrupt {
            seqno: expected,
            reason,
        };
        // An old entry of a recovering service, whose secret is not restored yet.
        let public_only = inner.secrets.for_version(expected).is_err();
        let decoded = if public_only {
            entry::decode_entry_public(bytes)
        } else {
            entry::decode_entry(bytes, &inner.secrets)
        }
        .map_err(|e| corrupt(e.to_string()))?;
        let txid = decoded.txid;
        if txid.seqno != expected {
            return Err(corrupt(format!("received seqno {}", txid.seqno)));
        }
        if txid.view < inner.views.values().next_back().copied().unwrap_or(0) {
            return Err(corrupt(format!("view {} goes backwards", txid.view)));
        }
        let signature = self.check_replicated_signature(inner, txid, &decoded)?;
        if let Some(p) = &inner.pending_evidence {
            p.check(txid.seqno, bytes, &decoded.public)
                .map_err(|reason| LedgerError::Verify {
                    seqno: expected,
                    reason,
                })?;
        }
        // A rekey whose secret is unknown cannot be unwrapped: nothing to learn.
        let next_secret = match public_only {
            true => None,
            false => next_secret(&inner.secrets, txid.seqno, &decoded.public.maps)?,
        };
        // Without the private state there is no snapshot to reproduce; one serializing off
        // the lock is checked when done.
        let evidence = snapshot_jobs::evidence_in(&decoded);
        let snapshot = match public_only || inner.missing.is_some() {
            true => None,
            false
                if evidence
                    .as_ref()
                    .is_some_and(|ev| inner.snapshot_jobs.has(ev.version)) =>
            {
                None
            }
            false => self.reproduce_snapshot(inner, &decoded),
        };
        Ok(Checked {
            decoded,
            signature,
            next_secret,
            snapshot,
            public_only,
        })
    }

    /// A signature entry must sign the current root, by a trusted node the service
    /// endorsed (as the store's tables record them).
    fn check_replicated_signature(
        &self,
        inner: &Inner,
        txid: TxId,
        decoded: &DecodedEntry,
    ) -> Result<Option<SignatureRecord>, LedgerError> {
        let corrupt = |reason: String| LedgerError::Corrupt {
            seqno: txid.seqno,
            reason,
        };
        let Some(w) = decoded.public.maps.get(tables::SIGNATURES) else {
            return Ok(None);
        };
        let raw = w
            .values()
            .next()
            .and_then(|v| v.as_ref())
            .ok_or_else(|| corrupt("empty signature record".into()))?;
        let rec: SignatureRecord = serde_json::from_slice(raw)
            .map_err(|e| corrupt(format!("bad signature record: {e}")))?;
        let snap = self.store.snapshot();
        let cert = snap
            .get(tables::ENDORSED_CERTIFICATES, rec.node.as_bytes())
            .and_then(|p| Certificate::from_pem(std::str::from_utf8(&p).ok()?).ok());
        let status = snap
            .get(tables::NODES_INFO, rec.node.as_bytes())
            .and_then(|v| serde_json::from_slice::<NodeInfo>(&v).ok())
            .map(|n| n.status);
        let service = snap
            .get(tables::SERVICE_INFO, &tables::SINGLETON_KEY)
            .and_then(|v| serde_json::from_slice::<ServiceInfo>(&v).ok())
            .and_then(|s| Certificate::from_pem(&s.cert).ok());
        let root = inner.tree.root().expect("tree has the zero leaf");
        crate::verify::check_signature_record(
            txid,
            &rec,
            cert.as_ref(),
            status,
            service.as_ref(),
            &root,
        )
        .map_err(|reason| LedgerError::Verify {
            seqno: txid.seqno,
            reason,
        })?;
        Ok(Some(rec))
    }

    /// The primary snapshotted the state just before an evidence entry: so can we, and
    /// identical state gives identical bytes.
    fn reproduce_snapshot(
        &self,
        inner: &Inner,
        decoded: &DecodedEntry,
    ) -> Option<(Version, Vec<u8>)> {
        let ev = snapshot_jobs::evidence_in(decoded)?;
        if ev.version != self.store.version() {
            return None;
        }
        match self.snapshot_bytes_locked(inner) {
            Ok((s, b)) if sha256(&b).to_hex() == ev.hash => Some((s, b)),
            Ok(_) => {
                tracing::warn!("snapshot at {} differs from the primary's", ev.version);
                None
            }
            Err(e) => {
                tracing::warn!("cannot reproduce snapshot at {}: {e}", ev.version);
                None
            }
        }
    }

    /// Apply a checked entry: files, store, tree, secrets. A failure here is fatal.
    fn apply_checked(
        &self,
        inner: &mut Inner,
        bytes: &[u8],
        c: Checked,
        write: bool,
    ) -> Result<TxId, LedgerError> {
        let txid = c.decoded.txid;
        let leaf = leaf_of(&sha256(bytes), &c.decoded.public);
        if write {
            match inner.files.append(bytes) {
                Ok(seqno) if seqno == txid.seqno => {}
                Ok(seqno) => return Err(inner.diverged(seqno, txid)),
                Err(e) => return Err(inner.poison(e)),
            }
        }
        if let Err(e) = self.store.apply(txid, &c.decoded.write_set) {
            return Err(inner.poison(e.into()));
        }
        inner.tree.append(leaf);
        note_view(&mut inner.views, txid);
        note_private(
            &mut inner.missing,
            txid.seqno,
            c.public_only,
            &c.decoded.write_set,
        );
        if let Some(s) = c.next_secret {
            inner.secrets.add(txid.seqno + 1, s);
        }
        if inner
            .pending_evidence
            .as_ref()
            .is_some_and(|p| p.seqno() == txid.seqno)
        {
            inner.pending_evidence = None;
        }
        if let Some((s, b)) = c.snapshot {
            inner.replicated_snapshot = Some((s, txid.seqno, b));
        } else if let Some(ev) = snapshot_jobs::evidence_in(&c.decoded) {
            if write && inner.snapshot_jobs.has(ev.version) {
                inner
                    .snapshot_jobs
                    .evidence(ev.version, txid.seqno, ev.hash);
            }
        }
        if let Some(rec) = c.signature {
            let prev = inner.signatures.last();
            inner.signatures.insert(txid.seqno, rec);
            if write {
                if let Err(e) = inner.files.after_signature() {
                    return Err(inner.poison(e));
                }
                let base = inner.files.first_seqno().saturating_sub(1);
                self.maybe_pin_snapshot(inner, txid.seqno, prev.unwrap_or(base));
            }
        }
        if write {
            self.check_seams(inner);
        } else {
            assert!(
                inner.files.last_seqno() >= txid.seqno && inner.tree.len() == txid.seqno + 1,
                "replay: entry {} is not in the files, or the tree is not one leaf per entry",
                txid.seqno
            );
        }
        Ok(txid)
    }
}

/// An entry read back from the ledger files for a peer (see [`Journal::read_stored`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    pub seqno: Version,
    pub view: View,
    pub signature: bool,
    pub bytes: Bytes,
}

impl Journal {
    /// Entries `first..=last` as the files hold them, for a primary catching a peer up.
    /// The journal's lock is held only to locate each batch (one read per chunk): the reads
    /// themselves run without it, so commits go on meanwhile. Meant for committed entries,
    /// which never change; a chunk renamed between locating and reading makes the read
    /// fail (an I/O error: the caller retries later).
    pub fn read_stored(
        &self,
        first: Version,
        last: Version,
    ) -> Result<Vec<StoredEntry>, LedgerError> {
        let mut out = Vec::with_capacity((last + 1).saturating_sub(first) as usize);
        let mut next = first;
        while next <= last {
            let (plan, meta) = {
                let inner = self.lock();
                let plan = inner
                    .files
                    .plan_batch(next, (last + 1 - next) as usize)?
                    .ok_or(LedgerError::UnknownSeqno(next))?;
                let meta: Vec<(View, bool)> = (next..next + plan.ranges.len() as u64)
                    .map(|s| {
                        (
                            view_at(&inner.views, s).unwrap_or(0),
                            inner.signatures.contains(s),
                        )
                    })
                    .collect();
                (plan, meta)
            };
            let (from, bytes, ranges) = plan.read()?;
            let bytes = Bytes::from(bytes);
            for (i, (r, (view, signature))) in ranges.into_iter().zip(meta).enumerate() {
                out.push(StoredEntry {
                    seqno: from + i as u64,
                    view,
                    signature,
                    bytes: bytes.slice(r),
                });
            }
            next = first + out.len() as u64;
        }
        Ok(out)
    }

    /// `(first seqno, view)` of each run of entries of one view the ledger holds, from its
    /// first entry on, and the view of the entry before it (a snapshot's), for a consensus
    /// engine that does not hold every entry.
    pub fn view_runs(&self) -> Vec<(Version, View)> {
        let inner = self.lock();
        let first = inner.files.first_seqno();
        let last = self.store.version();
        let mut runs: Vec<(Version, View)> = Vec::new();
        if first <= last {
            runs.push((first, view_at(&inner.views, first).unwrap_or(0)));
            runs.extend(inner.views.range(first + 1..=last).map(|(s, v)| (*s, *v)));
        }
        runs.dedup_by(|b, a| a.1 == b.1);
        runs
    }
}
