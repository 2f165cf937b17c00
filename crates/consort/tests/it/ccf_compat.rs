//! CCF's own tools read and verify Consort's ledger and receipts.
//!
//! A ledger of thousands of transactions (public and private maps, several chunks, many
//! signatures) is generated through the real journal, then `ccf.read_ledger` (from the
//! `ccf` PyPI package, with verification on) must exit 0 and list exactly the same
//! transactions with the same digests, and `ccf.receipt` must verify our receipts.

use std::collections::BTreeMap;

use crate::common::*;
use consort_ledger::testing::TestService;

const TXS: usize = 3000;

fn generate(dir: &std::path::Path) -> (TestService, Vec<consort_ledger::testing::Written>) {
    let svc = TestService::create(dir, |c| {
        c.chunk_threshold = 64 * 1024;
        c.sig_tx_interval = 100;
    })
    .unwrap();
    let written = svc.write_records(TXS, "value").unwrap();
    svc.journal.sign().unwrap();
    // A few more after the last signature, so an open chunk exists too.
    svc.write_records(5, "tail").unwrap();
    svc.journal.flush().unwrap();
    (svc, written)
}

/// Our view of every transaction: txid -> write-set digest.
fn our_digests(dir: &std::path::Path) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let mut auditor = consort_ledger::verify::Auditor::new();
    consort_ledger::verify::for_each_entry(dir, |seqno, bytes| {
        let a = auditor.add(seqno, bytes)?;
        m.insert(a.txid.to_string(), a.write_set_digest.to_hex());
        Ok(())
    })
    .unwrap();
    m
}

fn committed_files(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".committed"))
        .collect();
    v.sort();
    v
}

fn parse_digest_lines(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| {
            let (txid, d) = l.trim().split_once(' ')?;
            let ok = txid
                .split_once('.')
                .is_some_and(|(a, b)| a.parse::<u64>().is_ok() && b.parse::<u64>().is_ok());
            (ok && d.len() == 64).then(|| (txid.to_string(), d.to_string()))
        })
        .collect()
}

#[test]
fn read_ledger_py_verifies_and_lists_the_same_transactions() {
    let d = tempfile::tempdir().unwrap();
    let (svc, written) = generate(d.path());
    let dir = d.path().to_str().unwrap();
    let ours = our_digests(d.path());
    assert!(ours.len() > TXS);
    assert!(
        committed_files(d.path()).len() >= 3,
        "several committed chunks"
    );

    // Committed chunks only (read_ledger's default), verification on.
    let out = run_python(&["-m", "ccf.read_ledger", "-d", dir]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "read_ledger failed:\n{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("Ledger verification complete"), "{stdout}");
    let theirs = parse_digest_lines(&stdout);
    let committed_max = svc.journal.committed().seqno;
    let ours_committed: BTreeMap<_, _> = ours
        .iter()
        .filter(|(t, _)| t.split_once('.').unwrap().1.parse::<u64>().unwrap() <= committed_max)
        .map(|(a, b)| (a.clone(), b.clone()))
        .collect();
    // read_ledger lists the committed chunks, which end at the last completed chunk.
    assert!(!theirs.is_empty());
    for (txid, digest) in &theirs {
        assert_eq!(ours_committed.get(txid), Some(digest), "transaction {txid}");
    }
    let last_listed: u64 = theirs
        .keys()
        .map(|t| t.split_once('.').unwrap().1.parse::<u64>().unwrap())
        .max()
        .unwrap();
    assert_eq!(theirs.len() as u64, last_listed, "contiguous from seqno 1");

    // Every file, including the open chunk and the complete-but-uncommitted ones.
    let out = run_python(&["-m", "ccf.read_ledger", "--uncommitted", "-d", dir]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "read_ledger --uncommitted failed:\n{stdout}"
    );
    assert_eq!(
        parse_digest_lines(&stdout),
        ours,
        "same transactions, same digests"
    );
    let sigs = stdout
        .lines()
        .find(|l| l.contains("signatures, and verified until"))
        .expect("summary line");
    assert!(
        sigs.contains(&format!("Found {} signatures", 2 + TXS / 100 + 1)),
        "{sigs}"
    );

    // Contents: public values are shown; private ones are not (only their size).
    let out = run_python(&["-m", "ccf.read_ledger", "--uncommitted", dir]);
    let stdout = text(&out.stdout);
    assert!(out.status.success());
    let public = written.iter().find(|w| w.map == "public:records").unwrap();
    let private = written.iter().find(|w| w.map == "records").unwrap();
    assert!(stdout.contains(&String::from_utf8_lossy(&public.value).to_string()));
    assert!(!stdout.contains(&String::from_utf8_lossy(&private.value).to_string()));
    assert!(
        stdout.contains("-- private:"),
        "private domain sizes are listed"
    );
    assert!(stdout.contains("public:ccf.gov.service.info"));
}

#[test]
fn ccf_receipt_functions_verify_our_receipts() {
    let d = tempfile::tempdir().unwrap();
    let (svc, written) = generate(d.path());
    let committed = svc.journal.committed().seqno;
    let receipts: Vec<serde_json::Value> = written
        .iter()
        .filter(|w| w.txid.seqno <= committed)
        .step_by(97)
        .map(|w| serde_json::to_value(svc.journal.receipt(w.txid.seqno).unwrap()).unwrap())
        .collect();
    assert!(receipts.len() > 20);
    let rpath = d.path().join("receipts.json");
    std::fs::write(&rpath, serde_json::to_vec(&receipts).unwrap()).unwrap();
    let cpath = d.path().join("service_cert.pem");
    std::fs::write(&cpath, svc.service.cert.to_pem()).unwrap();
    let script = r#"
import sys, json, hashlib
from cryptography.x509 import load_pem_x509_certificate
import ccf.receipt
receipts = json.load(open(sys.argv[1]))
service = load_pem_x509_certificate(open(sys.argv[2], "rb").read())
for r in receipts:
    lc = r["leaf_components"]
    ce = hashlib.sha256(lc["commit_evidence"].encode()).digest()
    leaf = hashlib.sha256(bytes.fromhex(lc["write_set_digest"]) + ce + bytes.fromhex(lc["claims_digest"])).hexdigest()
    root = ccf.receipt.root(leaf, r["proof"])
    node_cert = load_pem_x509_certificate(r["cert"].encode())
    ccf.receipt.verify(root, r["signature"], node_cert)
    ccf.receipt.check_endorsements(node_cert, service, [load_pem_x509_certificate(e.encode()) for e in r.get("service_endorsements", [])])
# A tampered receipt must fail.
r = receipts[0]
lc = r["leaf_components"]
ce = hashlib.sha256(lc["commit_evidence"].encode()).digest()
bad = hashlib.sha256(bytes.fromhex(lc["write_set_digest"])[::-1] + ce + bytes.fromhex(lc["claims_digest"])).hexdigest()
try:
    ccf.receipt.verify(ccf.receipt.root(bad, r["proof"]), r["signature"], load_pem_x509_certificate(r["cert"].encode()))
    print("TAMPERED RECEIPT ACCEPTED")
    sys.exit(3)
except Exception:
    pass
print("verified", len(receipts))
"#;
    let out = run_python(&[
        "-c",
        script,
        rpath.to_str().unwrap(),
        cpath.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "ccf.receipt rejected a receipt:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(
        text(&out.stdout).trim(),
        format!("verified {}", receipts.len())
    );
}

#[test]
fn ccf_reads_and_checks_our_snapshots() {
    let d = tempfile::tempdir().unwrap();
    let sd = tempfile::tempdir().unwrap();
    let svc = TestService::create(d.path(), |c| c.sig_tx_interval = 100).unwrap();
    let written = svc.write_records(500, "value").unwrap();
    svc.journal.sign().unwrap();
    let path = svc.journal.write_snapshot(sd.path()).unwrap();
    let seqno: u64 = path
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .split('_')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let script = r#"
import sys
import ccf.ledger
s = ccf.ledger.Snapshot(sys.argv[1])   # parses, and verifies the evidence receipt
pd = s.get_public_domain()
t = pd.get_tables()
print(pd.get_seqno(), s.is_committed(), len(t["public:records"]), "public:ccf.gov.service.info" in t)
"#;
    let out = run_python(&["-c", script, path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    // Records alive at the snapshot (some were removed along the way).
    let public = svc.journal.store().snapshot().len("public:records");
    assert!(public > 200 && public < written.len());
    assert_eq!(
        text(&out.stdout).trim(),
        format!("{seqno} True {public} True")
    );
    let out = run_python(&[
        "-m",
        "ccf.read_ledger",
        "--snapshot",
        path.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("public:records") && stdout.contains("value-000000"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("value-000001"),
        "private values are not in clear"
    );
}
