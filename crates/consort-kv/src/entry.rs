//! The ledger entry format, byte for byte as CCF writes it (and as `ccf.ledger` reads it).
//!
//! ```text
//! entry   := header(8) gcm_tag(16) gcm_iv(12) public_size(u64) public private
//! header  := version(u8 = 1) flags(u8) size(u48 LE: bytes after the header)
//! gcm_iv  := seqno(u64 LE) view(u32 LE; top bit set for snapshots)
//! public  := entry_type(u8) seqno(i64) [claims_digest(32)] [commit_evidence_digest(32)]
//!            max_conflict_version(i64) map*
//! private := AES-256-GCM(map*) under the ledger secret for `seqno`, IV = gcm_iv,
//!            AAD = public; the tag also authenticates `public` when `private` is empty
//! map     := name(u64 len + bytes) read_version(i64) read_count(u64 = 0)
//!            write_count(u64) (key value)*  remove_count(u64) key*
//! ```
//! All integers are little-endian; keys, values and names are `u64` length-prefixed.
//! Maps and keys are written in ascending order, so an entry is a deterministic function
//! of its transaction.

use bytes::Bytes;
use consort_crypto::{
    aead::{IV_LEN, TAG_LEN},
    Sha256Digest,
};

use crate::{is_public, KvError, LedgerSecrets, MapWrites, TxId, Version, WriteSet};

/// Size of the entry header (version, flags, 6-byte size).
pub const HEADER_LEN: usize = 8;
/// Size of the AES-GCM header (tag then IV).
pub const GCM_HEADER_LEN: usize = TAG_LEN + IV_LEN;
/// Offset of the public domain within an entry.
pub const PUBLIC_OFFSET: usize = HEADER_LEN + GCM_HEADER_LEN + 8;
/// Entry format version written in the header.
pub const ENTRY_FORMAT_VERSION: u8 = 1;
const MAX_SIZE: u64 = (1 << 48) - 1;
const SNAPSHOT_VIEW_BIT: u32 = 1 << 31;

/// CCF's entry types. Consort writes [`EntryType::WriteSetWithCommitEvidenceAndClaims`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum EntryType {
    WriteSet = 0,
    Snapshot = 1,
    WriteSetWithClaims = 2,
    WriteSetWithCommitEvidence = 3,
    WriteSetWithCommitEvidenceAndClaims = 4,
}

impl EntryType {
    pub fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            0 => Self::WriteSet,
            1 => Self::Snapshot,
            2 => Self::WriteSetWithClaims,
            3 => Self::WriteSetWithCommitEvidence,
            4 => Self::WriteSetWithCommitEvidenceAndClaims,
            _ => return None,
        })
    }

    pub fn has_claims(self) -> bool {
        matches!(
            self,
            Self::WriteSetWithClaims | Self::WriteSetWithCommitEvidenceAndClaims
        )
    }

    pub fn has_commit_evidence(self) -> bool {
        matches!(
            self,
            Self::WriteSetWithCommitEvidence | Self::WriteSetWithCommitEvidenceAndClaims
        )
    }
}

/// What the public domain header carries besides the maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryMeta {
    pub txid: TxId,
    pub claims_digest: Sha256Digest,
    pub commit_evidence_digest: Sha256Digest,
    pub max_conflict_version: i64,
    /// The `read_version` written for each map (the version the transaction read from).
    pub read_version: Version,
    pub flags: u8,
}

pub(crate) fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u64(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn put_map(out: &mut Vec<u8>, name: &str, read_version: Version, writes: &MapWrites) {
    put_bytes(out, name.as_bytes());
    put_u64(out, read_version);
    put_u64(out, 0); // read set: never written to the ledger
    let write_count = writes.values().filter(|v| v.is_some()).count();
    put_u64(out, write_count as u64);
    for (k, v) in writes {
        if let Some(v) = v {
            put_bytes(out, k);
            put_bytes(out, v);
        }
    }
    put_u64(out, (writes.len() - write_count) as u64);
    for (k, v) in writes {
        if v.is_none() {
            put_bytes(out, k);
        }
    }
}

fn map_size(name: &str, writes: &MapWrites) -> usize {
    8 + name.len()
        + 32
        + writes
            .iter()
            .map(|(k, v)| 8 + k.len() + v.as_ref().map_or(0, |v| 8 + v.len()))
            .sum::<usize>()
}

/// The 12-byte IV for a transaction (or, with `snapshot`, a snapshot) at `txid`.
pub fn iv_for(txid: TxId, snapshot: bool) -> [u8; IV_LEN] {
    let mut iv = [0u8; IV_LEN];
    iv[..8].copy_from_slice(&txid.seqno.to_le_bytes());
    let mut view = (txid.view as u32) & !SNAPSHOT_VIEW_BIT;
    if snapshot {
        view |= SNAPSHOT_VIEW_BIT;
    }
    iv[8..].copy_from_slice(&view.to_le_bytes());
    iv
}

/// Serialize a transaction's write set as a ledger entry, encrypting its private maps.
pub fn serialize_entry(
    meta: &EntryMeta,
    ws: &WriteSet,
    secrets: &LedgerSecrets,
) -> Result<Vec<u8>, KvError> {
    if meta.txid.view > (SNAPSHOT_VIEW_BIT - 1) as u64 {
        return Err(KvError::Malformed(format!(
            "view {} exceeds 31 bits",
            meta.txid.view
        )));
    }
    let secret = secrets.for_version(meta.txid.seqno)?;
    let est =
        PUBLIC_OFFSET + 1 + 8 + 64 + 8 + ws.maps.iter().map(|(n, m)| map_size(n, m)).sum::<usize>();
    let mut out = Vec::with_capacity(est);
    out.resize(PUBLIC_OFFSET, 0);
    out.push(EntryType::WriteSetWithCommitEvidenceAndClaims as u8);
    put_u64(&mut out, meta.txid.seqno);
    out.extend_from_slice(meta.claims_digest.as_bytes());
    out.extend_from_slice(meta.commit_evidence_digest.as_bytes());
    out.extend_from_slice(&meta.max_conflict_version.to_le_bytes());
    for (name, writes) in ws.public() {
        put_map(&mut out, name, meta.read_version, writes);
    }
    let public_end = out.len();
    for (name, writes) in ws.private() {
        put_map(&mut out, name, meta.read_version, writes);
    }
    seal_entry(out, public_end, meta.txid, false, meta.flags, secret)
}

/// The common end of writing a transaction or snapshot entry: encrypt `out[public_end..]`
/// (the private maps) with the public domain as AAD, and fill in the header, tag, IV and
/// public-domain size.
pub(crate) fn seal_entry(
    mut out: Vec<u8>,
    public_end: usize,
    txid: TxId,
    snapshot: bool,
    flags: u8,
    secret: &crate::LedgerSecret,
) -> Result<Vec<u8>, KvError> {
    let size = (out.len() - HEADER_LEN) as u64;
    if size > MAX_SIZE {
        return Err(KvError::Malformed(format!(
            "entry of {size} bytes is too large"
        )));
    }
    let iv = iv_for(txid, snapshot);
    let (head, rest) = out.split_at_mut(public_end);
    let tag = secret
        .aead()
        .seal_in_place(&iv, &head[PUBLIC_OFFSET..], rest)?;
    out[0] = ENTRY_FORMAT_VERSION;
    out[1] = flags;
    out[2..8].copy_from_slice(&size.to_le_bytes()[..6]);
    out[8..8 + TAG_LEN].copy_from_slice(&tag);
    out[8 + TAG_LEN..8 + GCM_HEADER_LEN].copy_from_slice(&iv);
    let public_len = (public_end - PUBLIC_OFFSET) as u64;
    out[PUBLIC_OFFSET - 8..PUBLIC_OFFSET].copy_from_slice(&public_len.to_le_bytes());
    Ok(out)
}

/// Total length (header included) of the entry starting at `buf`, if its header is there.
pub fn entry_len(buf: &[u8]) -> Option<u64> {
    let h = buf.get(..HEADER_LEN)?;
    let mut size = [0u8; 8];
    size[..6].copy_from_slice(&h[2..8]);
    Some(HEADER_LEN as u64 + u64::from_le_bytes(size))
}

/// The parts of one serialized entry, borrowed from its bytes.
#[derive(Debug, Clone, Copy)]
pub struct EntryView<'a> {
    /// The whole entry, header included (what the write-set digest is taken over).
    pub bytes: &'a [u8],
    pub version: u8,
    pub flags: u8,
    pub tag: [u8; TAG_LEN],
    pub iv: [u8; IV_LEN],
    pub txid: TxId,
    pub is_snapshot: bool,
    pub public: &'a [u8],
    pub private: &'a [u8],
}

impl<'a> EntryView<'a> {
    /// Split the entry at the start of `buf` (which may continue with further entries).
    pub fn parse(buf: &'a [u8]) -> Result<Self, KvError> {
        let total =
            entry_len(buf).ok_or_else(|| KvError::Malformed("truncated entry header".into()))?;
        if (buf.len() as u64) < total {
            return Err(KvError::Malformed(format!(
                "entry claims {total} bytes but only {} remain",
                buf.len()
            )));
        }
        let bytes = &buf[..total as usize];
        if bytes.len() < PUBLIC_OFFSET {
            return Err(KvError::Malformed(
                "entry shorter than its fixed headers".into(),
            ));
        }
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&bytes[8..8 + TAG_LEN]);
        let mut iv = [0u8; IV_LEN];
        iv.copy_from_slice(&bytes[8 + TAG_LEN..8 + GCM_HEADER_LEN]);
        let seqno = u64::from_le_bytes(iv[..8].try_into().expect("8 bytes"));
        let view_raw = u32::from_le_bytes(iv[8..].try_into().expect("4 bytes"));
        let public_len = u64::from_le_bytes(
            bytes[PUBLIC_OFFSET - 8..PUBLIC_OFFSET]
                .try_into()
                .expect("8 bytes"),
        );
        let avail = (bytes.len() - PUBLIC_OFFSET) as u64;
        if public_len > avail {
            return Err(KvError::Malformed(format!(
                "public domain size {public_len} exceeds entry ({avail} bytes left)"
            )));
        }
        let public_end = PUBLIC_OFFSET + public_len as usize;
        Ok(Self {
            bytes,
            version: bytes[0],
            flags: bytes[1],
            tag,
            iv,
            txid: TxId::new((view_raw & !SNAPSHOT_VIEW_BIT) as u64, seqno),
            is_snapshot: view_raw & SNAPSHOT_VIEW_BIT != 0,
            public: &bytes[PUBLIC_OFFSET..public_end],
            private: &bytes[public_end..],
        })
    }

    /// Check the GCM tag (over the public domain too) and decrypt the private domain.
    pub fn open_private(&self, secrets: &LedgerSecrets) -> Result<Vec<u8>, KvError> {
        let secret = secrets.for_version(self.txid.seqno)?;
        let mut plain = self.private.to_vec();
        secret
            .aead()
            .open_in_place(&self.iv, self.public, &mut plain, &self.tag)
            .map_err(|_| KvError::Decrypt(self.txid))?;
        Ok(plain)
    }

    /// Check the GCM tag and decrypt the private maps.
    pub fn decrypt_private(&self, secrets: &LedgerSecrets) -> Result<WriteSet, KvError> {
        self.decrypt_private_with(secrets, &mut Vec::new())
    }

    /// [`EntryView::decrypt_private`] decrypting in `buf` (cleared first), so that a
    /// caller decoding many entries reuses one buffer. `buf` holds plaintext afterwards:
    /// the caller clears it when done.
    pub fn decrypt_private_with(
        &self,
        secrets: &LedgerSecrets,
        buf: &mut Vec<u8>,
    ) -> Result<WriteSet, KvError> {
        let secret = secrets.for_version(self.txid.seqno)?;
        buf.clear();
        buf.extend_from_slice(self.private);
        secret
            .aead()
            .open_in_place(&self.iv, self.public, buf, &self.tag)
            .map_err(|_| KvError::Decrypt(self.txid))?;
        let mut ws = WriteSet::default();
        let mut r = Reader { buf, pos: 0 };
        read_maps(&mut r, &mut ws)?;
        Ok(ws)
    }
}

/// The decoded public domain of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicDomain {
    pub entry_type: EntryType,
    pub seqno: i64,
    pub claims_digest: Option<Sha256Digest>,
    pub commit_evidence_digest: Option<Sha256Digest>,
    pub max_conflict_version: i64,
    /// Public maps and their writes (`None` = removed).
    pub maps: WriteSet,
    /// `read_version` recorded for each map, in order.
    pub read_versions: Vec<(String, i64)>,
}

pub(crate) struct Reader<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: u64) -> Result<&'a [u8], KvError> {
        let left = (self.buf.len() - self.pos) as u64;
        if n > left {
            return Err(KvError::Malformed(format!(
                "field of {n} bytes at offset {} overruns domain of {} bytes",
                self.pos,
                self.buf.len()
            )));
        }
        let s = &self.buf[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }
    pub(crate) fn u64(&mut self) -> Result<u64, KvError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    pub(crate) fn digest(&mut self) -> Result<Sha256Digest, KvError> {
        Ok(Sha256Digest(self.take(32)?.try_into().expect("32 bytes")))
    }
    pub(crate) fn sized(&mut self) -> Result<&'a [u8], KvError> {
        let n = self.u64()?;
        self.take(n)
    }
    pub(crate) fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }
}

fn read_maps(r: &mut Reader<'_>, ws: &mut WriteSet) -> Result<Vec<(String, i64)>, KvError> {
    let mut versions = Vec::new();
    while !r.done() {
        let name = std::str::from_utf8(r.sized()?)
            .map_err(|_| KvError::Malformed("map name is not UTF-8".into()))?
            .to_string();
        let read_version = r.u64()? as i64;
        let reads = r.u64()?;
        if reads != 0 {
            return Err(KvError::Malformed(format!(
                "unexpected read count {reads} in map {name}"
            )));
        }
        let mut writes = MapWrites::new();
        let n = r.u64()?;
        for _ in 0..n {
            let k = Bytes::copy_from_slice(r.sized()?);
            let v = Bytes::copy_from_slice(r.sized()?);
            writes.insert(k, Some(v));
        }
        let n = r.u64()?;
        for _ in 0..n {
            let k = Bytes::copy_from_slice(r.sized()?);
            writes.insert(k, None);
        }
        if ws.maps.insert(name.clone(), writes).is_some() {
            return Err(KvError::Malformed(format!("map {name} appears twice")));
        }
        versions.push((name, read_version));
    }
    Ok(versions)
}

/// Decode a public domain (write-set entry types; snapshots are not ledger entries).
pub fn decode_public(public: &[u8]) -> Result<PublicDomain, KvError> {
    let mut r = Reader {
        buf: public,
        pos: 0,
    };
    let t = r.take(1)?[0];
    let entry_type = EntryType::from_u8(t)
        .ok_or_else(|| KvError::Malformed(format!("unknown entry type {t}")))?;
    if entry_type == EntryType::Snapshot {
        return Err(KvError::Malformed(
            "snapshot entry found where a transaction was expected".into(),
        ));
    }
    let seqno = r.u64()? as i64;
    let claims_digest = if entry_type.has_claims() {
        Some(r.digest()?)
    } else {
        None
    };
    let commit_evidence_digest = if entry_type.has_commit_evidence() {
        Some(r.digest()?)
    } else {
        None
    };
    let max_conflict_version = r.u64()? as i64;
    let mut maps = WriteSet::default();
    let read_versions = read_maps(&mut r, &mut maps)?;
    if let Some((name, _)) = read_versions.iter().find(|(n, _)| !is_public(n)) {
        return Err(KvError::Malformed(format!(
            "private map {name} in the public domain"
        )));
    }
    Ok(PublicDomain {
        entry_type,
        seqno,
        claims_digest,
        commit_evidence_digest,
        max_conflict_version,
        maps,
        read_versions,
    })
}

/// A fully decoded entry: public and (decrypted) private writes together.
#[derive(Debug, Clone)]
pub struct DecodedEntry {
    pub txid: TxId,
    pub public: PublicDomain,
    pub write_set: WriteSet,
}

/// Parse one whole entry and decode its public domain, checking that its header and
/// public domain agree on the seqno.
fn parse_whole(bytes: &[u8]) -> Result<(EntryView<'_>, PublicDomain), KvError> {
    let view = EntryView::parse(bytes)?;
    if view.bytes.len() != bytes.len() {
        return Err(KvError::Malformed("trailing bytes after entry".into()));
    }
    let public = decode_public(view.public)?;
    if public.seqno != view.txid.seqno as i64 {
        return Err(KvError::Malformed(format!(
            "IV seqno {} disagrees with public domain seqno {}",
            view.txid.seqno, public.seqno
        )));
    }
    Ok((view, public))
}

/// Parse one entry and decode its public domain only, for a node that holds no ledger
/// secret for it (a recovering service replays old entries this way): the write set is the
/// public maps, the private bytes are left alone. The GCM tag cannot be checked without
/// the secret; the entry's integrity is covered by the Merkle tree and the signatures over
/// it instead (see `consort_ledger::verify::Auditor`).
pub fn decode_entry_public(bytes: &[u8]) -> Result<DecodedEntry, KvError> {
    let (view, public) = parse_whole(bytes)?;
    Ok(DecodedEntry {
        txid: view.txid,
        write_set: public.maps.clone(),
        public,
    })
}

/// Parse, authenticate and decrypt one entry, checking that its header and public domain
/// agree on the seqno.
pub fn decode_entry(bytes: &[u8], secrets: &LedgerSecrets) -> Result<DecodedEntry, KvError> {
    let (view, public) = parse_whole(bytes)?;
    let private = view.decrypt_private(secrets)?;
    let mut write_set = public.maps.clone();
    for (name, writes) in private.maps {
        if is_public(&name) {
            return Err(KvError::Malformed(format!(
                "public map {name} in the private domain"
            )));
        }
        write_set.maps.insert(name, writes);
    }
    Ok(DecodedEntry {
        txid: view.txid,
        public,
        write_set,
    })
}

#[cfg(test)]
#[path = "entry_test.rs"]
mod entry_test;
