//! The real vectors verify; tampered copies of them are refused, naming the check.

use super::report::{reserved_ranges, FIELDS};
use super::*;

fn read(f: &str) -> Vec<u8> {
    let path = format!("{}/testdata/snp/{f}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A real report with the endorsements that verify it.
struct Vector {
    name: &'static str,
    report: Vec<u8>,
    endorsements: Vec<u8>,
}

fn vectors() -> Vec<Vector> {
    vec![
        Vector {
            name: "virtee milan v2",
            report: read("report_milan.bin"),
            endorsements: endorsements_from(&read("vcek_milan.der"), &read("cert_chain_milan.pem")),
        },
        Vector {
            name: "ccf milan v3",
            report: read("ccf_milan_v3.bin"),
            endorsements: read("ccf_milan_endorsements.pem"),
        },
        Vector {
            name: "ccf genoa v3",
            report: read("ccf_genoa_v3.bin"),
            endorsements: read("ccf_genoa_endorsements.pem"),
        },
    ]
}

/// The name of the check an error names (its message's first words).
fn check(e: &SnpError) -> &'static str {
    match e {
        SnpError::Parse(_) => "parse",
        SnpError::UnsupportedVersion(_) => "version",
        SnpError::SignatureAlgorithm(_) => "algorithm",
        SnpError::SigningKey(_) => "signing key",
        SnpError::Endorsements(_) => "endorsements",
        SnpError::Ark(_) => "ark",
        SnpError::Chain(_) => "chain",
        SnpError::Validity(_) => "validity",
        SnpError::Product(_) => "product",
        SnpError::ReportSignature => "signature",
        SnpError::Tcb(_) => "tcb",
        SnpError::HwId(_) => "hwid",
        SnpError::Policy(_) => "policy",
        SnpError::Vmpl(_) => "vmpl",
    }
}

fn pem_chain(f: &str) -> Vec<Vec<u8>> {
    pem_certificates(&read(f)).expect("PEM")
}

fn join_pem(ders: &[&[u8]]) -> Vec<u8> {
    ders.iter()
        .map(|d| pem::encode(&pem::Pem::new("CERTIFICATE", d.to_vec())))
        .collect::<String>()
        .into_bytes()
}

#[test]
fn every_real_vector_verifies() {
    for v in vectors() {
        let c = verify(&v.report, &v.endorsements).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(c.format, Format::AmdSevSnpV1);
        assert!(!c.insecure);
        assert_eq!(c.measurement.len(), 96);
        assert_eq!(c.host_data.len(), 64);
        assert_eq!(c.report_data.len(), 128);
        assert_eq!(c.chip_id.as_ref().map(String::len), Some(128));
    }
}

#[test]
fn the_claims_of_the_ccf_milan_report() {
    let v = &vectors()[1];
    let c = verify(&v.report, &v.endorsements).unwrap();
    assert_eq!(c.product, Some(Product::Milan));
    assert_eq!(c.cpuid.as_deref(), Some("00a00f11"));
    assert_eq!(c.report_version, Some(3));
    assert_eq!(
        c.measurement,
        "5feee30d6d7e1a29f403d70a4198237ddfb13051a2d6976439487c609388ed7f98189887920ab2fa0096903a0c23fca1"
    );
    let tcb = c.reported_tcb.unwrap();
    assert_eq!(tcb.hexstring.as_deref(), Some("db18000000000004"));
    assert_eq!(
        (tcb.boot_loader, tcb.tee, tcb.snp, tcb.microcode),
        (Some(4), Some(0), Some(24), Some(219))
    );
    assert!(!c.policy.unwrap().debug_allowed);
}

#[test]
fn the_genoa_and_virtee_claims() {
    let vs = vectors();
    let g = verify(&vs[2].report, &vs[2].endorsements).unwrap();
    assert_eq!(
        (g.product, g.cpuid.as_deref()),
        (Some(Product::Genoa), Some("00a10f11"))
    );
    let m = verify(&vs[0].report, &vs[0].endorsements).unwrap();
    // Version 2 has no CPUID: the product comes from the VCEK and its ARK.
    assert_eq!(
        (m.product, m.cpuid, m.report_version),
        (Some(Product::Milan), None, Some(2))
    );
}

/// The check a flip of `bit` in byte `at` (of field `field`) must fail.
fn expected(v: &Vector, field: &str, at: usize, bit: u8) -> &'static str {
    let version = v.report[0];
    let has = |f: &str| match f {
        "cpuid_fam_id" | "cpuid_mod_id" | "cpuid_step" => version >= 3,
        "launch_mit_vector" | "current_mit_vector" => version >= 5,
        _ => true,
    };
    if !has(field) {
        return "parse"; // reserved in this version
    }
    match (field, at, bit) {
        ("version", 0, 0) if version == 2 => "product", // read as v3: CPUID 0/0/0
        ("version", 0, 0) => "parse",                   // v3 read as v2: reserved CPUID bytes set
        ("version", _, _) => "version",
        ("signature_algo", _, _) => "algorithm",
        ("key_info", 0x48, 2..=4) => "signing key",
        ("cpuid_fam_id", _, _) => "product", // 0x19 -> 0x18, 0x99...: not an EPYC we know
        ("cpuid_mod_id", _, 4) => "ark",     // 0x01 <-> 0x11: Milan <-> Genoa, not the ARK's
        ("cpuid_mod_id", _, 7) => "product", // 0x81, 0x91: an unknown family 19h model
        ("signature_r", a, _) | ("signature_s", a, _) if (a - 0x2A0) % 72 >= 48 => "parse",
        _ => "signature",
    }
}

fn flipped(report: &[u8], at: usize, bit: u8) -> Vec<u8> {
    let mut r = report.to_vec();
    r[at] ^= 1 << bit;
    r
}

#[test]
fn a_flipped_bit_in_any_field_is_refused_naming_the_check() {
    for v in vectors() {
        for &(field, off, len) in FIELDS {
            let probes = [(off, 0), (off + len - 1, 7), (off, 2), (off, 4)];
            for (at, bit) in probes {
                let e = verify(&flipped(&v.report, at, bit), &v.endorsements).expect_err(&format!(
                    "{}: {field} byte 0x{at:x} bit {bit} accepted",
                    v.name
                ));
                let want = expected(&v, field, at, bit);
                assert_eq!(
                    check(&e),
                    want,
                    "{}: {field} byte 0x{at:x} bit {bit}: {e}",
                    v.name
                );
            }
        }
    }
}

#[test]
fn a_flipped_bit_in_any_reserved_byte_is_refused() {
    for v in vectors() {
        for (off, len) in reserved_ranges(u32::from(v.report[0])) {
            for at in [off, off + len / 2, off + len - 1] {
                let e = verify(&flipped(&v.report, at, 0), &v.endorsements).unwrap_err();
                assert_eq!(check(&e), "parse", "{}: reserved 0x{at:x}: {e}", v.name);
                assert!(
                    e.to_string()
                        .starts_with("report parse failed: reserved bytes"),
                    "{e}"
                );
            }
        }
    }
}

#[test]
fn no_byte_of_a_report_can_change() {
    for v in vectors() {
        for at in 0..report::REPORT_LEN {
            assert!(
                verify(&flipped(&v.report, at, 0), &v.endorsements).is_err(),
                "{}: byte 0x{at:x}",
                v.name
            );
        }
    }
}

#[test]
fn ccfs_v2_report_parses_but_no_vcek_here_signed_it() {
    let report = read("ccf_milan_v2.bin");
    let parsed = Report::parse(&report).unwrap();
    assert_eq!((parsed.version, parsed.cpuid), (2, None));
    for end in [
        vectors()[0].endorsements.clone(),
        read("ccf_milan_endorsements.pem"),
    ] {
        assert_eq!(
            verify(&report, &end).unwrap_err(),
            SnpError::ReportSignature
        );
    }
}

#[test]
fn the_messages_name_the_check() {
    let v = &vectors()[1];
    let e = verify(&flipped(&v.report, 0x90, 0), &v.endorsements).unwrap_err();
    assert_eq!(
        e.to_string(),
        "report signature check failed: the report is not signed by the VCEK"
    );
}

#[test]
fn another_chips_vcek_is_refused() {
    let vs = vectors();
    let milan_chain = read("cert_chain_milan.pem");
    // The CCF Milan report with virtee's Milan VCEK (a valid chain, another chip).
    let other_vcek = endorsements_from(&read("vcek_milan.der"), &milan_chain);
    let e = verify(&vs[1].report, &other_vcek).unwrap_err();
    assert_eq!(check(&e), "signature", "{e}");
    // Genoa's VCEK under the Milan ASK: not signed by it.
    let genoa = pem_chain("ccf_genoa_endorsements.pem");
    let milan = pem_chain("ccf_milan_endorsements.pem");
    let mixed = join_pem(&[&genoa[0], &milan[1], &milan[2]]);
    let e = verify(&vs[1].report, &mixed).unwrap_err();
    assert_eq!(
        e.to_string(),
        "VCEK chain check failed: the VCEK is not signed by the ASK"
    );
    // Genoa's whole chain with the Milan report: the CPUID says Milan.
    let e = verify(&vs[1].report, &vs[2].endorsements).unwrap_err();
    assert_eq!(check(&e), "ark", "{e}");
    assert!(
        e.to_string()
            .contains("Genoa ARK, the report is from a Milan chip"),
        "{e}"
    );
    // Version 2 has no CPUID: the signature check refuses it.
    let e = verify(&vs[0].report, &vs[2].endorsements).unwrap_err();
    assert_eq!(check(&e), "signature", "{e}");
}

#[test]
fn a_chain_from_another_product_is_refused() {
    let vs = vectors();
    let genoa = pem_chain("ccf_genoa_endorsements.pem");
    let milan = pem_chain("ccf_milan_endorsements.pem");
    let e = verify(&vs[1].report, &join_pem(&[&milan[0], &genoa[1], &genoa[2]])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "VCEK chain check failed: the VCEK is not signed by the ASK"
    );
    let e = verify(&vs[1].report, &join_pem(&[&milan[0], &milan[1], &genoa[2]])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "VCEK chain check failed: the ASK is not signed by the ARK"
    );
}

#[test]
fn a_root_that_is_not_amds_is_refused() {
    let vs = vectors();
    let milan = pem_chain("ccf_milan_endorsements.pem");
    let fake = pem_chain("fake_ark_milan.pem");
    let e = verify(&vs[1].report, &join_pem(&[&milan[0], &milan[1], &fake[0]])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "ARK check failed: the root is not AMD's Milan, Genoa or Turin ARK"
    );
    // One byte changed in the ARK's signature: the key is AMD's, the signature is not.
    let mut ark = milan[2].clone();
    let last = ark.len() - 1;
    ark[last] ^= 1;
    let e = verify(&vs[1].report, &join_pem(&[&milan[0], &milan[1], &ark])).unwrap_err();
    assert_eq!(
        e.to_string(),
        "ARK check failed: the ARK is not self-signed"
    );
    // One byte changed in the ARK's key (inside the modulus).
    let mut ark = milan[2].clone();
    let key_at = ark.len() / 2;
    ark[key_at] ^= 1;
    let e = verify(&vs[1].report, &join_pem(&[&milan[0], &milan[1], &ark])).unwrap_err();
    assert!(matches!(check(&e), "ark" | "endorsements"), "{e}");
}

#[test]
fn certificates_out_of_their_validity_are_refused() {
    let v = &vectors()[1];
    let year_2100 = 4_102_444_800;
    let e = verify_at(&v.report, &v.endorsements, year_2100).unwrap_err();
    assert_eq!(check(&e), "validity", "{e}");
    assert!(e.to_string().contains("expired"), "{e}");
    let e = verify_at(&v.report, &v.endorsements, 0).unwrap_err();
    assert!(e.to_string().contains("is not valid before"), "{e}");
}

#[test]
fn malformed_endorsements_are_refused() {
    let v = &vectors()[1];
    let milan = pem_chain("ccf_milan_endorsements.pem");
    for bad in [
        Vec::new(),
        b"not pem".to_vec(),
        join_pem(&[&milan[0], &milan[1]]),
        join_pem(&[&milan[0], &milan[1], &milan[2], &milan[2]]),
        join_pem(&[&milan[0], b"garbage", &milan[2]]),
    ] {
        let e = verify(&v.report, &bad).unwrap_err();
        assert!(matches!(check(&e), "endorsements" | "ark"), "{e}");
    }
    // In the wrong order.
    let e = verify(&v.report, &join_pem(&[&milan[2], &milan[1], &milan[0]])).unwrap_err();
    assert_eq!(check(&e), "ark", "{e}");
}

#[test]
fn a_debuggable_guest_is_refused() {
    let v = &vectors()[1];
    let mut report = Report::parse(&v.report).unwrap();
    assert!(check_guest(&report).is_ok());
    report.policy |= 1 << 19;
    let e = check_guest(&report).unwrap_err();
    assert_eq!(
        e.to_string(),
        "guest policy check failed: debugging is allowed (guest policy bit 19)"
    );
    let mut report = Report::parse(&v.report).unwrap();
    report.policy |= 1 << 18;
    let e = check_guest(&report).unwrap_err().to_string();
    assert!(e.contains("migration agent is allowed"), "{e}");
    // A report the host made (VMPL above 3) or at another VMPL is refused.
    let mut report = Report::parse(&v.report).unwrap();
    report.vmpl = 0xffff_ffff;
    let e = check_guest(&report).unwrap_err().to_string();
    assert!(e.starts_with("VMPL check failed"), "{e}");
    // And a signed report with the bit set fails the signature first.
    let e = verify(&flipped(&v.report, 0x08 + 2, 3), &v.endorsements).unwrap_err();
    assert_eq!(check(&e), "signature");
}

#[test]
fn endorsements_from_accepts_der_and_pem_vceks() {
    let der = read("vcek_milan.der");
    let chain = read("cert_chain_milan.pem");
    let from_der = endorsements_from(&der, &chain);
    let pem_vcek = pem::encode(&pem::Pem::new("CERTIFICATE", der.clone()));
    let from_pem = endorsements_from(pem_vcek.as_bytes(), &chain);
    let e1 = Endorsements::parse(&from_der).unwrap();
    assert_eq!(e1, Endorsements::parse(&from_pem).unwrap());
    assert_eq!(e1.vcek, der);
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..1300)) {
        let _ = Report::parse(&bytes);
        let _ = verify(&bytes, &bytes);
    }

    #[test]
    fn arbitrary_reports_never_panic(
        version in proptest::sample::select(vec![2u8, 3, 5]),
        body in proptest::collection::vec(proptest::num::u8::ANY, report::REPORT_LEN - 4),
    ) {
        let mut bytes = vec![version, 0, 0, 0];
        bytes.extend_from_slice(&body);
        let _ = Report::parse(&bytes);
        let end = read("ccf_milan_endorsements.pem");
        proptest::prop_assert!(verify(&bytes, &end).is_err());
    }
}
