//! Snapshots of the whole store in CCF's snapshot entry format (as `ccf.ledger.Snapshot`
//! reads it): an entry of type 1 whose IV has the snapshot bit set, whose public domain
//! holds the seqno, the Merkle root at the snapshot and the view history, then every public
//! map with 8-byte-aligned keys and versioned values; private maps in the encrypted private
//! domain, the same way.
//!
//! ```text
//! public  := type(u8 = 1) seqno(i64) max_conflict_version(i64)
//!            hash_size(u64) hash view_history_size(u64) view_start_seqno(u64)*
//!            map*
//! map     := name(u64 len + bytes) map_version(u64) map_size(u64) item*
//! item    := key_size(u64) key pad8  value_size(u64 = 8 + len) version(u64) value pad8
//! ```

use bytes::Bytes;
use consort_crypto::Sha256Digest;

use crate::{
    entry::{self, put_bytes, put_u64, EntryView, Reader, PUBLIC_OFFSET},
    is_public,
    store::MapDump,
    KvError, LedgerSecrets, Snapshot, TxId, Version,
};

const SNAPSHOT_TYPE: u8 = 1;

fn pad8(out: &mut Vec<u8>, size: usize) {
    out.extend(std::iter::repeat_n(0u8, (8 - size % 8) % 8));
}

/// Append `map` as the snapshot holds it (nothing when it has no keys), read a page at a
/// time: the serialized snapshot is the only copy of the state made.
fn put_map(out: &mut Vec<u8>, snap: &Snapshot, name: &str, last_write: Version) {
    let mark = out.len();
    put_bytes(out, name.as_bytes());
    put_u64(out, last_write);
    let size_at = out.len();
    put_u64(out, 0);
    let start = out.len();
    let mut any = false;
    snap.for_each_page(name, |page| {
        any |= !page.is_empty();
        for (k, value, version) in page {
            put_u64(out, k.len() as u64);
            out.extend_from_slice(k);
            pad8(out, k.len());
            put_u64(out, 8 + value.len() as u64);
            put_u64(out, *version);
            out.extend_from_slice(value);
            pad8(out, 8 + value.len());
        }
    });
    if !any {
        out.truncate(mark);
        return;
    }
    let size = (out.len() - start) as u64;
    out[size_at..size_at + 8].copy_from_slice(&size.to_le_bytes());
}

/// Serialize `snap` (taken at transaction `txid`) as a snapshot entry.
pub fn serialize_snapshot(
    txid: TxId,
    snap: &Snapshot,
    root: &Sha256Digest,
    view_history: &[Version],
    secrets: &LedgerSecrets,
) -> Result<Vec<u8>, KvError> {
    if snap.version != txid.seqno {
        return Err(KvError::Malformed(format!(
            "snapshot at {} named {txid}",
            snap.version
        )));
    }
    let secret = secrets.for_version(txid.seqno)?;
    let mut out = vec![0u8; PUBLIC_OFFSET];
    out.push(SNAPSHOT_TYPE);
    put_u64(&mut out, txid.seqno);
    put_u64(&mut out, txid.seqno);
    put_bytes(&mut out, root.as_bytes());
    put_u64(&mut out, view_history.len() as u64 * 8);
    for v in view_history {
        put_u64(&mut out, *v);
    }
    let maps = snap.map_heads();
    for (name, lw) in maps.iter().filter(|m| is_public(&m.0)) {
        put_map(&mut out, snap, name, *lw);
    }
    let public_end = out.len();
    for (name, lw) in maps.iter().filter(|m| !is_public(&m.0)) {
        put_map(&mut out, snap, name, *lw);
    }
    entry::seal_entry(out, public_end, txid, true, 0, secret)
}

/// A decoded snapshot.
#[derive(Debug, Clone)]
pub struct DecodedSnapshot {
    pub txid: TxId,
    pub root: Sha256Digest,
    pub view_history: Vec<Version>,
    pub snapshot: Snapshot,
}

fn read_maps(r: &mut Reader<'_>, maps: &mut Vec<MapDump>) -> Result<(), KvError> {
    let mut seen: std::collections::BTreeSet<String> =
        maps.iter().map(|(n, _, _)| n.clone()).collect();
    while !r.done() {
        let name = std::str::from_utf8(r.sized()?)
            .map_err(|_| KvError::Malformed("map name is not UTF-8".into()))?
            .to_string();
        let last_write = r.u64()?;
        let size = r.u64()?;
        let body = r.take(size)?;
        let mut m = Reader { buf: body, pos: 0 };
        let mut items: Vec<(Bytes, Bytes, Version)> = Vec::new();
        while !m.done() {
            let k = m.sized()?;
            m.take(((8 - k.len() % 8) % 8) as u64)?;
            let vsize = m.u64()?;
            if vsize < 8 {
                return Err(KvError::Malformed(
                    "snapshot value shorter than its version".into(),
                ));
            }
            let version = m.u64()?;
            let v = m.take(vsize - 8)?;
            m.take(((8 - vsize as usize % 8) % 8) as u64)?;
            items.push((
                Bytes::copy_from_slice(k),
                Bytes::copy_from_slice(v),
                version,
            ));
        }
        if !seen.insert(name.clone()) {
            return Err(KvError::Malformed(format!("map {name} appears twice")));
        }
        maps.push((name, last_write, items));
    }
    Ok(())
}

/// Authenticate and decode a snapshot entry (the entry alone, without the receipt that
/// follows it in a `.committed` file).
pub fn decode_snapshot(bytes: &[u8], secrets: &LedgerSecrets) -> Result<DecodedSnapshot, KvError> {
    let (view, header, mut maps) = decode_public_maps(bytes)?;
    let plain = view.open_private(secrets)?;
    let mut pr = Reader {
        buf: &plain,
        pos: 0,
    };
    read_maps(&mut pr, &mut maps)?;
    Ok(header.with_maps(maps))
}

/// What a snapshot's public domain says besides its maps.
struct Header {
    txid: TxId,
    root: Sha256Digest,
    view_history: Vec<Version>,
}

impl Header {
    fn with_maps(self, maps: Vec<MapDump>) -> DecodedSnapshot {
        DecodedSnapshot {
            txid: self.txid,
            root: self.root,
            view_history: self.view_history,
            snapshot: Snapshot::from_dump(self.txid.seqno, maps),
        }
    }
}

/// Decode a snapshot's public domain only (no secret needed): header and public maps. An
/// auditor uses this; nothing private is read, and the GCM tag is not checked (the
/// snapshot is authenticated through its evidence in the ledger instead).
pub fn decode_snapshot_public(bytes: &[u8]) -> Result<(EntryView<'_>, DecodedSnapshot), KvError> {
    let (view, header, maps) = decode_public_maps(bytes)?;
    Ok((view, header.with_maps(maps)))
}

/// The entry, header and public maps of a snapshot.
fn decode_public_maps(bytes: &[u8]) -> Result<(EntryView<'_>, Header, Vec<MapDump>), KvError> {
    let view = EntryView::parse(bytes)?;
    if !view.is_snapshot {
        return Err(KvError::Malformed(
            "not a snapshot entry (IV snapshot bit unset)".into(),
        ));
    }
    let mut r = Reader {
        buf: view.public,
        pos: 0,
    };
    if r.take(1)?[0] != SNAPSHOT_TYPE {
        return Err(KvError::Malformed("not a snapshot entry type".into()));
    }
    let seqno = r.u64()?;
    if seqno != view.txid.seqno {
        return Err(KvError::Malformed(
            "snapshot seqno disagrees with its IV".into(),
        ));
    }
    let _max_conflict = r.u64()?;
    let root = Sha256Digest::from_slice(r.sized()?)
        .ok_or_else(|| KvError::Malformed("bad snapshot hash".into()))?;
    let vh = r.sized()?;
    if vh.len() % 8 != 0 {
        return Err(KvError::Malformed("bad view history".into()));
    }
    let view_history = vh
        .chunks(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8")))
        .collect();
    let mut maps = Vec::new();
    read_maps(&mut r, &mut maps)?;
    let header = Header {
        txid: view.txid,
        root,
        view_history,
    };
    Ok((view, header, maps))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LedgerSecret, Store};

    /// Replicas build the same snapshot file whatever their compaction or open readers
    /// (the primary's and a backup's bytes are compared).
    #[test]
    fn snapshot_bytes_depend_only_on_the_transactions() {
        let run = |compact: bool| {
            let store = Store::new();
            let held = store.snapshot();
            type Step<'a> = (&'a str, &'a [u8], Option<&'a [u8]>);
            let steps: [Step<'_>; 5] = [
                ("public:m", b"k1", Some(b"1")),
                ("public:m", b"k2", Some(b"2")),
                ("public:m", b"k2", None),
                ("public:m", b"absent", None),
                ("public:x", b"k", Some(b"x")),
            ];
            for (map, k, v) in steps {
                let mut tx = store.begin();
                match v {
                    Some(v) => tx.put(map, k.to_vec(), v.to_vec()),
                    None => {
                        tx.remove(map, k.to_vec());
                    }
                }
                store.commit(tx, |_| Ok::<_, String>(())).unwrap();
                if compact {
                    store.compact(store.version());
                }
            }
            drop(held);
            let ss = LedgerSecrets::single(LedgerSecret::from_raw([3u8; 32]).unwrap());
            let root = consort_crypto::sha256(b"root");
            let bytes =
                serialize_snapshot(TxId::new(1, 5), &store.snapshot(), &root, &[1], &ss).unwrap();
            // A node restored from this snapshot writes it back the same.
            let restored = Store::new();
            restored.reset_to(decode_snapshot(&bytes, &ss).unwrap().snapshot);
            let again = serialize_snapshot(TxId::new(1, 5), &restored.snapshot(), &root, &[1], &ss)
                .unwrap();
            assert_eq!(
                decode_snapshot(&again, &ss).unwrap().snapshot.dump(),
                decode_snapshot(&bytes, &ss).unwrap().snapshot.dump()
            );
            decode_snapshot(&bytes, &ss).unwrap().snapshot.dump()
        };
        let a = run(true);
        assert_eq!(a, run(false));
        // The map's version is its last write (the removal at 4), not its newest key.
        assert_eq!(a[0].0, "public:m");
        assert_eq!(a[0].1, 4);
    }

    #[test]
    fn round_trip_private_encrypted() {
        let store = Store::new();
        let mut tx = store.begin();
        tx.put("public:a", &b"k1"[..], &b"v1"[..]);
        tx.put("public:a", &b"longer key!"[..], &b"x"[..]);
        tx.put("secret", &b"k"[..], &b"PRIVATE-VALUE"[..]);
        store.commit(tx, |_| Ok::<_, String>(())).unwrap();
        let mut tx = store.begin();
        tx.put("public:b", &b""[..], &b""[..]);
        store.commit(tx, |_| Ok::<_, String>(())).unwrap();
        let ss = LedgerSecrets::single(LedgerSecret::from_raw([3u8; 32]).unwrap());
        let snap = store.snapshot();
        let root = consort_crypto::sha256(b"root");
        let bytes = serialize_snapshot(TxId::new(2, 2), &snap, &root, &[0, 1, 2], &ss).unwrap();
        assert!(!bytes.windows(13).any(|w| w == b"PRIVATE-VALUE"));
        let d = decode_snapshot(&bytes, &ss).unwrap();
        assert_eq!(d.txid, TxId::new(2, 2));
        assert_eq!(d.root, root);
        assert_eq!(d.view_history, vec![0, 1, 2]);
        for m in ["public:a", "public:b", "secret"] {
            assert_eq!(d.snapshot.entries(m), snap.entries(m), "{m}");
        }
        let mut bad = bytes.clone();
        let n = bad.len() - 1;
        bad[n] ^= 1;
        assert!(decode_snapshot(&bad, &ss).is_err());
    }
}
