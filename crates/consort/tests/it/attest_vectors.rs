//! `consort attest verify` against real SEV-SNP vectors and tampered copies of them,
//! compared with an independent verifier in Python `cryptography` (`attest_check.py`):
//! both must accept or refuse every case, and Consort must name the expected check.

use std::path::{Path, PathBuf};

use crate::common::{consort, python, text};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../consort-attestation/testdata/snp")
}

fn roots() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../consort-attestation/src/snp/roots")
}

fn read(f: &str) -> Vec<u8> {
    std::fs::read(testdata().join(f)).unwrap()
}

/// The PEM certificates of a file, each as its own PEM text.
fn pems(f: &str) -> Vec<String> {
    pems_of(&String::from_utf8(read(f)).unwrap())
}

/// A report with its VCEK and chain, as files for both verifiers.
struct Case {
    name: String,
    report: Vec<u8>,
    vcek: Vec<u8>,
    chain: String,
    /// What Consort's error must contain, `None` if it must accept.
    refusal: Option<&'static str>,
}

/// The real vectors: (name, report, VCEK, ASK+ARK).
fn real() -> Vec<(&'static str, Vec<u8>, Vec<u8>, String)> {
    let milan = pems("ccf_milan_endorsements.pem");
    let genoa = pems("ccf_genoa_endorsements.pem");
    vec![
        (
            "virtee milan v2",
            read("report_milan.bin"),
            read("vcek_milan.der"),
            String::from_utf8(read("cert_chain_milan.pem")).unwrap(),
        ),
        (
            "ccf milan v3",
            read("ccf_milan_v3.bin"),
            milan[0].clone().into_bytes(),
            milan[1..].concat(),
        ),
        (
            "ccf genoa v3",
            read("ccf_genoa_v3.bin"),
            genoa[0].clone().into_bytes(),
            genoa[1..].concat(),
        ),
    ]
}

fn flip(report: &[u8], at: usize) -> Vec<u8> {
    let mut r = report.to_vec();
    r[at] ^= 1;
    r
}

fn cases() -> Vec<Case> {
    const SIG: &str = "report signature check failed";
    let milan = pems("ccf_milan_endorsements.pem");
    let genoa = pems("ccf_genoa_endorsements.pem");
    let mut out = Vec::new();
    for (name, report, vcek, chain) in real() {
        let case = |what: &str, report: Vec<u8>, vcek: &[u8], chain: &str, refusal| Case {
            name: format!("{name}: {what}"),
            report,
            vcek: vcek.to_vec(),
            chain: chain.to_string(),
            refusal,
        };
        out.push(case("as is", report.clone(), &vcek, &chain, None));
        for (field, at) in [
            ("measurement", 0x90),
            ("report_data", 0x50),
            ("signature r", 0x2A0),
            ("chip_id", 0x1A0),
            ("reported_tcb", 0x180),
            ("policy", 0x08),
        ] {
            out.push(case(field, flip(&report, at), &vcek, &chain, Some(SIG)));
        }
        let mut debug = report.clone();
        debug[0x0A] ^= 1 << 3; // policy bit 19: signed, so the signature check fails first
        out.push(case("debug policy bit", debug, &vcek, &chain, Some(SIG)));
        // Another chip's VCEK under the same ASK (virtee's and CCF's Milan chips).
        if name.contains("milan") {
            let other = if name.contains("virtee") {
                milan[0].clone().into_bytes()
            } else {
                read("vcek_milan.der")
            };
            out.push(case(
                "another chip's VCEK",
                report.clone(),
                &other,
                &chain,
                Some(SIG),
            ));
        }
        // A VCEK of another product under this chain.
        let foreign = if name.contains("genoa") {
            &milan[0]
        } else {
            &genoa[0]
        };
        out.push(case(
            "another product's VCEK",
            report.clone(),
            foreign.as_bytes(),
            &chain,
            Some("VCEK chain check failed: the VCEK is not signed by the ASK"),
        ));
        // This VCEK under another product's ASK and ARK.
        let other_chain = if name.contains("genoa") {
            milan[1..].concat()
        } else {
            genoa[1..].concat()
        };
        out.push(case(
            "another product's chain",
            report.clone(),
            &vcek,
            &other_chain,
            Some("VCEK chain check failed: the VCEK is not signed by the ASK"),
        ));
        // A root that is not AMD's.
        let ask = pems_of(&chain)[0].clone();
        let fake = format!("{ask}{}", pems("fake_ark_milan.pem")[0]);
        out.push(case(
            "a self-made ARK",
            report.clone(),
            &vcek,
            &fake,
            Some("ARK check failed: the root is not AMD's Milan, Genoa or Turin ARK"),
        ));
    }
    out
}

fn pems_of(text: &str) -> Vec<String> {
    let end = "-----END CERTIFICATE-----";
    text.split_inclusive(end)
        .filter(|c| c.contains("BEGIN CERTIFICATE"))
        .map(|c| format!("{}\n", c.trim()))
        .collect()
}

#[test]
fn consort_and_an_independent_verifier_agree_on_every_case() {
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/attest_check.py");
    let cases = cases();
    assert!(cases.len() >= 30, "{}", cases.len());
    for (i, c) in cases.iter().enumerate() {
        let (report, vcek, chain) = (
            dir.path().join(format!("{i}.bin")),
            dir.path().join(format!("{i}.vcek")),
            dir.path().join(format!("{i}.chain.pem")),
        );
        std::fs::write(&report, &c.report).unwrap();
        std::fs::write(&vcek, &c.vcek).unwrap();
        std::fs::write(&chain, &c.chain).unwrap();
        let ours = consort()
            .args(["attest", "verify"])
            .arg(&report)
            .arg("--vcek")
            .arg(&vcek)
            .arg("--chain")
            .arg(&chain)
            .output()
            .unwrap();
        let theirs = std::process::Command::new(python())
            .arg(&script)
            .args([&report, &vcek, &chain, &roots()])
            .output()
            .unwrap();
        let (stdout, stderr, py) = (text(&ours.stdout), text(&ours.stderr), text(&theirs.stdout));
        assert!(
            theirs.status.success(),
            "{}: python failed: {}",
            c.name,
            text(&theirs.stderr)
        );
        let we_accept = ours.status.success();
        let they_accept = py.trim() == "accept";
        assert_eq!(
            we_accept, they_accept,
            "{}: consort {stdout}{stderr} / python {py}",
            c.name
        );
        match c.refusal {
            None => {
                assert!(
                    stdout.contains("verified: every check passed"),
                    "{}: {stdout}",
                    c.name
                );
                assert!(stdout.contains("measurement: "), "{}: {stdout}", c.name);
            }
            Some(check) => {
                assert_eq!(ours.status.code(), Some(1), "{}", c.name);
                assert!(
                    stderr.starts_with("attestation check failed: "),
                    "{}: {stderr}",
                    c.name
                );
                assert!(
                    stderr.contains(check),
                    "{}: wanted {check:?}, got {stderr}",
                    c.name
                );
            }
        }
    }
}

#[test]
fn quote_info_and_quote_json_verify_and_a_missing_file_is_a_clear_failure() {
    use base64::{engine::general_purpose::STANDARD as B64, Engine};
    let dir = tempfile::tempdir().unwrap();
    let (report, end) = (read("ccf_genoa_v3.bin"), read("ccf_genoa_endorsements.pem"));
    let info = serde_json::json!({
        "format": "AMD_SEV_SNP_v1", "quote": B64.encode(&report), "endorsements": B64.encode(&end),
    });
    let quote = serde_json::json!({
        "node_id": "n0", "format": "AMD_SEV_SNP_v1", "raw": B64.encode(&report),
        "endorsements": B64.encode(&end), "measurement": "",
    });
    for (name, json) in [("info.json", info), ("quote.json", quote)] {
        let p = dir.path().join(name);
        std::fs::write(&p, json.to_string()).unwrap();
        let out = consort()
            .args(["attest", "verify"])
            .arg(&p)
            .output()
            .unwrap();
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
        assert!(stdout.contains("product: Genoa\n"), "{stdout}");
        assert!(stdout.contains("cpuid: 00a10f11\n"), "{stdout}");
        let bound = consort()
            .args(["attest", "verify"])
            .arg(&p)
            .args(["--report-data", "01"])
            .output()
            .unwrap();
        assert_eq!(bound.status.code(), Some(1));
        assert!(text(&bound.stderr).contains("report data check failed"));
    }
    let out = consort()
        .args(["attest", "verify", "/nonexistent/evidence.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read evidence /nonexistent/evidence.json"));
}
