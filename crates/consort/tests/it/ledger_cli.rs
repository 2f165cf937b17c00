//! `consort ledger verify|show` and `consort receipt verify`, run as a user runs them, on
//! real ledgers — intact and tampered (flipped bytes, dropped and reordered entries,
//! forged signatures).

use std::{fs, path::Path};

use crate::common::*;
use base64::Engine;
use consort_crypto::{cert, keys::SigningKey, Sha256Digest};
use consort_kv::entry::{self, EntryMeta, EntryView};
use consort_ledger::{
    chunk::{self, ChunkName},
    tables::{self, SignatureRecord},
    testing::TestService,
};
use proptest::prelude::*;

fn generate(dir: &Path, n: usize) -> TestService {
    let svc = TestService::create(dir, |c| {
        c.chunk_threshold = 8 * 1024;
        c.sig_tx_interval = 25;
    })
    .unwrap();
    svc.write_records(n, "value").unwrap();
    // End with a signature in the open chunk so every committed byte is covered.
    svc.journal.sign().unwrap();
    svc.journal.flush().unwrap();
    svc
}

fn chunk_files(dir: &Path) -> Vec<(ChunkName, std::path::PathBuf)> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            let n = ChunkName::parse(p.file_name()?.to_str()?)?;
            Some((n, p))
        })
        .collect();
    v.sort_by_key(|(n, _)| n.start);
    v
}

/// The entries of a chunk file, and whether it has a positions table.
fn entries_of(path: &Path) -> (Vec<Vec<u8>>, bool) {
    let bytes = fs::read(path).unwrap();
    let lay = chunk::layout(path, &bytes).unwrap();
    let mut out = Vec::new();
    for (i, off) in lay.offsets.iter().enumerate() {
        let end = lay
            .offsets
            .get(i + 1)
            .map_or(lay.entries_end, |o| *o as u64) as usize;
        out.push(bytes[*off as usize..end].to_vec());
    }
    (out, lay.has_table)
}

/// Rewrite a chunk file from entries, with a fresh positions table when it had one.
fn write_chunk(path: &Path, entries: &[Vec<u8>], with_table: bool) {
    let mut bytes = vec![0u8; 8];
    let mut offs = Vec::new();
    for e in entries {
        offs.push(bytes.len() as u32);
        bytes.extend_from_slice(e);
    }
    if with_table {
        let at = bytes.len() as u64;
        bytes.extend_from_slice(&chunk::encode_table(&offs));
        bytes[..8].copy_from_slice(&at.to_le_bytes());
    }
    fs::write(path, bytes).unwrap();
}

fn verify_cli(dir: &Path) -> (bool, String, String) {
    let out = consort()
        .args(["ledger", "verify"])
        .arg(dir)
        .output()
        .unwrap();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

fn bad_seqno(stderr: &str) -> u64 {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("first bad seqno: "))
        .unwrap_or_else(|| panic!("no bad seqno in: {stderr}"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn verify_accepts_an_intact_ledger() {
    let d = tempfile::tempdir().unwrap();
    let svc = generate(d.path(), 300);
    let (ok, stdout, stderr) = verify_cli(d.path());
    assert!(ok, "{stdout}{stderr}");
    let last = svc.journal.last_txid();
    assert!(
        stdout.contains(&format!("{} transactions", last.seqno))
            && stdout.contains(&format!("verified up to {last}")),
        "{stdout}"
    );
    let out = consort()
        .args(["ledger", "verify", "--json"])
        .arg(d.path())
        .output()
        .unwrap();
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["unsigned_tail"], 0);
    assert!(j["chunks"].as_u64().unwrap() >= 3);
}

#[test]
fn verify_names_a_dropped_entry() {
    let d = tempfile::tempdir().unwrap();
    generate(d.path(), 300);
    let (name, path) = chunk_files(d.path())[1].clone();
    let (mut entries, table) = entries_of(&path);
    entries.remove(3);
    write_chunk(&path, &entries, table);
    let (ok, _, stderr) = verify_cli(d.path());
    assert!(!ok);
    assert_eq!(bad_seqno(&stderr), name.start + 3, "{stderr}");
}

#[test]
fn verify_names_reordered_entries() {
    let d = tempfile::tempdir().unwrap();
    generate(d.path(), 300);
    let (name, path) = chunk_files(d.path())[1].clone();
    let (mut entries, table) = entries_of(&path);
    entries.swap(5, 6);
    write_chunk(&path, &entries, table);
    let (ok, _, stderr) = verify_cli(d.path());
    assert!(!ok);
    assert_eq!(bad_seqno(&stderr), name.start + 5, "{stderr}");
}

#[test]
fn verify_names_a_missing_chunk() {
    let d = tempfile::tempdir().unwrap();
    generate(d.path(), 300);
    let (name, path) = chunk_files(d.path())[1].clone();
    fs::remove_file(path).unwrap();
    let (ok, _, stderr) = verify_cli(d.path());
    assert!(!ok);
    assert_eq!(bad_seqno(&stderr), name.start, "{stderr}");
}

/// Re-sign signature transaction `seqno` with a rogue key and splice it back, keeping
/// every other byte intact (the forger knows the ledger secret, so even the GCM tag is
/// valid): only the signature check can catch it.
fn forge_signature(svc: &TestService, dir: &Path, rogue_cert_in_record: bool) -> u64 {
    let files = chunk_files(dir);
    for (name, path) in &files {
        let (mut entries, table) = entries_of(path);
        for (i, e) in entries.clone().iter().enumerate() {
            let view = EntryView::parse(e).unwrap();
            let public = entry::decode_public(view.public).unwrap();
            let Some(sig) = public.maps.get(tables::SIGNATURES) else {
                continue;
            };
            if view.txid.seqno < 30 {
                continue;
            }
            let mut rec: SignatureRecord =
                serde_json::from_slice(sig.values().next().unwrap().as_ref().unwrap()).unwrap();
            let rogue = SigningKey::generate().unwrap();
            let root = Sha256Digest::from_hex(&rec.root).unwrap();
            rec.sig = base64::engine::general_purpose::STANDARD
                .encode(rogue.sign_digest_sha256(&root).unwrap());
            if rogue_cert_in_record {
                rec.cert = cert::self_signed_leaf(&rogue, "CCF Node", 30)
                    .unwrap()
                    .to_pem();
            }
            let mut ws = public.maps.clone();
            ws.put(
                tables::SIGNATURES,
                &tables::SINGLETON_KEY[..],
                serde_json::to_vec(&rec).unwrap(),
            );
            let meta = EntryMeta {
                txid: view.txid,
                claims_digest: public.claims_digest.unwrap(),
                commit_evidence_digest: public.commit_evidence_digest.unwrap(),
                max_conflict_version: public.max_conflict_version,
                read_version: public.read_versions[0].1 as u64,
                flags: view.flags,
            };
            entries[i] = entry::serialize_entry(&meta, &ws, &svc.secrets).unwrap();
            write_chunk(path, &entries, table);
            let _ = name;
            return view.txid.seqno;
        }
    }
    panic!("no signature found");
}

#[test]
fn verify_rejects_forged_signatures() {
    for rogue_cert in [false, true] {
        let d = tempfile::tempdir().unwrap();
        let svc = generate(d.path(), 300);
        let seqno = forge_signature(&svc, d.path(), rogue_cert);
        let (ok, _, stderr) = verify_cli(d.path());
        assert!(!ok, "forged signature accepted");
        assert_eq!(bad_seqno(&stderr), seqno, "{stderr}");
        assert!(
            stderr.contains("signature") || stderr.contains("certificate"),
            "{stderr}"
        );
    }
}

#[test]
fn show_prints_public_transactions_as_json_lines() {
    let d = tempfile::tempdir().unwrap();
    let svc = generate(d.path(), 40);
    let out = consort()
        .args(["ledger", "show"])
        .arg(d.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, svc.journal.last_txid().seqno);
    assert_eq!(lines[0]["txid"], "1.1");
    let info = &lines[0]["tables"]["public:ccf.gov.service.info"]["writes"][0]["value"];
    assert_eq!(info["status"], "Opening");
    assert!(lines
        .iter()
        .any(|l| l["tables"]["public:records"]["writes"][0]["value"] == "value-000000"));
    // Private values are never shown.
    assert!(!text(&out.stdout).contains("value-000001"));
    assert!(lines
        .iter()
        .any(|l| l["private_bytes"].as_u64().unwrap() > 0));

    let out = consort()
        .args(["ledger", "show", "--table", "gov"])
        .arg(d.path())
        .output()
        .unwrap();
    let gov: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(gov.len(), 2, "bootstrap and open");
    assert!(gov.iter().all(|l| l["tables"]
        .as_object()
        .unwrap()
        .keys()
        .all(|k| k.contains("gov"))));

    let out = consort()
        .args(["ledger", "show", "--table", "("])
        .arg(d.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("invalid --table regex"));
}

#[test]
fn receipt_verify_cli() {
    let d = tempfile::tempdir().unwrap();
    let svc = generate(d.path(), 60);
    let r = svc.journal.receipt(10).unwrap();
    let rp = d.path().join("receipt.json");
    fs::write(&rp, serde_json::to_vec_pretty(&r).unwrap()).unwrap();
    let cp = d.path().join("service_cert.pem");
    fs::write(&cp, svc.service.cert.to_pem()).unwrap();
    let out = consort()
        .args(["receipt", "verify"])
        .arg(&rp)
        .arg("--service-cert")
        .arg(&cp)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("transaction 1.10 is in the ledger"));

    let mut bad = r.clone();
    bad.proof.pop();
    fs::write(&rp, serde_json::to_vec(&bad).unwrap()).unwrap();
    let out = consort()
        .args(["receipt", "verify"])
        .arg(&rp)
        .arg("--service-cert")
        .arg(&cp)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("FAILED"));

    fs::write(&rp, b"{not json").unwrap();
    let out = consort()
        .args(["receipt", "verify"])
        .arg(&rp)
        .arg("--service-cert")
        .arg(&cp)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not valid receipt JSON"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Any single flipped byte anywhere in a committed chunk is detected.
    #[test]
    fn any_flipped_byte_in_a_committed_chunk_is_detected(pick in any::<prop::sample::Index>(), bit in 0u8..8) {
        thread_local! {
            static LEDGER: (tempfile::TempDir, Vec<(std::path::PathBuf, usize)>) = {
                let d = tempfile::tempdir().unwrap();
                generate(d.path(), 200);
                let files: Vec<_> = chunk_files(d.path())
                    .into_iter()
                    .filter(|(n, _)| n.committed)
                    .map(|(_, p)| { let len = fs::metadata(&p).unwrap().len() as usize; (p, len) })
                    .collect();
                assert!(files.len() >= 2);
                (d, files)
            };
        }
        LEDGER.with(|(d, files)| {
            let total: usize = files.iter().map(|(_, l)| l).sum();
            let mut at = pick.index(total);
            let (path, _) = files.iter().find(|(_, l)| if at < *l { true } else { at -= l; false }).unwrap();
            let original = fs::read(path).unwrap();
            let mut bytes = original.clone();
            bytes[at] ^= 1 << bit;
            fs::write(path, &bytes).unwrap();
            let r = consort_ledger::verify_dir(d.path());
            fs::write(path, &original).unwrap();
            prop_assert!(r.is_err(), "flip of bit {bit} at byte {at} of {} went undetected", path.display());
            Ok(())
        })?;
    }
}
