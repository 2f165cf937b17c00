use super::*;
use crate::TcbPolicy;

fn read(f: &str) -> Vec<u8> {
    std::fs::read(format!("{}/testdata/snp/{f}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn the_bundled_arks_are_amds_self_signed_roots() {
    for (product, pem_text) in BUNDLED_ARKS {
        let der = pem::parse(pem_text).unwrap().into_contents();
        let ark = parse_cert("ARK", &der).unwrap();
        assert_eq!(bundled_product(&ark, &der).unwrap(), product);
        check_rsa_pss(&ark, &ark).unwrap();
        check_validity(&ark, now()).unwrap();
        let cn = format!("ARK-{product}");
        assert!(
            ark.x509.subject().to_string().contains(&cn),
            "{}",
            ark.x509.subject()
        );
    }
}

#[test]
fn the_turin_chain_verifies_without_a_report() {
    let chain = pem_certificates(&read("cert_chain_turin.pem")).unwrap();
    let vcek_der = read("vcek_turin.der");
    let (ask, ark) = (
        parse_cert("ASK", &chain[0]).unwrap(),
        parse_cert("ARK", &chain[1]).unwrap(),
    );
    let vcek = parse_cert("VCEK", &vcek_der).unwrap();
    assert_eq!(bundled_product(&ark, &chain[1]).unwrap(), Product::Turin);
    check_rsa_pss(&ark, &ark).unwrap();
    check_rsa_pss(&ask, &ark).unwrap();
    check_rsa_pss(&vcek, &ask).unwrap();
    for c in [&ark, &ask, &vcek] {
        check_validity(c, now()).unwrap();
    }
    assert_eq!(vcek_product(&vcek), Some(Product::Turin));
    // Its extensions: fmcSPL 0, blSPL 0, teeSPL 0, snpSPL 0, ucodeSPL 9; an 8-byte hwID.
    let tcb = TcbPolicy::from_raw([0, 0, 0, 0, 0, 0, 0, 9], Product::Turin);
    check_tcb(&vcek, &tcb).unwrap();
    let e = check_tcb(
        &vcek,
        &TcbPolicy::from_raw([1, 0, 0, 0, 0, 0, 0, 9], Product::Turin),
    );
    assert_eq!(
        e.unwrap_err().to_string(),
        "VCEK TCB check failed: fmcSPL 0 in the VCEK, 1 in the report"
    );
    let mut chip_id = [0u8; 64];
    chip_id[..8].copy_from_slice(&[0x1E, 0x55, 0x0A, 0x8E, 0xE5, 0xCF, 0x9F, 0x4D]);
    check_hw_id(&vcek, &chip_id).unwrap();
    chip_id[9] = 1;
    let e = check_hw_id(&vcek, &chip_id).unwrap_err();
    assert!(
        e.to_string().starts_with("VCEK hardware id check failed"),
        "{e}"
    );
}

#[test]
fn a_turin_vcek_is_not_under_the_milan_ask() {
    let milan = pem_certificates(&read("cert_chain_milan.pem")).unwrap();
    let vcek_der = read("vcek_turin.der");
    let vcek = parse_cert("VCEK", &vcek_der).unwrap();
    let ask = parse_cert("ASK", &milan[0]).unwrap();
    let e = check_rsa_pss(&vcek, &ask).unwrap_err();
    assert_eq!(
        e.to_string(),
        "VCEK chain check failed: the VCEK is not signed by the ASK"
    );
}

#[test]
fn the_milan_vceks_tcb_and_hwid() {
    let der = read("vcek_milan.der");
    let vcek = parse_cert("VCEK", &der).unwrap();
    assert_eq!(vcek_product(&vcek), Some(Product::Milan));
    let good = TcbPolicy::from_raw([3, 0, 0, 0, 0, 0, 8, 0x73], Product::Milan);
    check_tcb(&vcek, &good).unwrap();
    let bad = TcbPolicy::from_raw([4, 0, 0, 0, 0, 0, 8, 0x73], Product::Milan);
    assert_eq!(
        check_tcb(&vcek, &bad).unwrap_err().to_string(),
        "VCEK TCB check failed: blSPL 3 in the VCEK, 4 in the report"
    );
    let bad = TcbPolicy::from_raw([3, 0, 0, 0, 0, 0, 8, 0x74], Product::Milan);
    assert!(check_tcb(&vcek, &bad)
        .unwrap_err()
        .to_string()
        .contains("ucodeSPL 115"));
    // A Turin-shaped TCB asks for an fmcSPL a Milan VCEK does not have.
    let turin = TcbPolicy::from_raw([0, 3, 0, 8, 0, 0, 0, 0x73], Product::Turin);
    assert!(check_tcb(&vcek, &turin)
        .unwrap_err()
        .to_string()
        .contains("no fmcSPL"));
    let report = std::fs::read(format!(
        "{}/testdata/snp/report_milan.bin",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let chip_id: [u8; 64] = report[0x1A0..0x1E0].try_into().unwrap();
    check_hw_id(&vcek, &chip_id).unwrap();
    let e = check_hw_id(&vcek, &[0u8; 64]).unwrap_err();
    assert!(
        e.to_string().contains("the report is from chip 0000"),
        "{e}"
    );
}

#[test]
fn small_der_integers() {
    assert_eq!(der_small_int(&[2, 1, 0]), Some(0));
    assert_eq!(der_small_int(&[2, 1, 0x73]), Some(0x73));
    assert_eq!(der_small_int(&[2, 2, 0, 0xdb]), Some(0xdb));
    assert_eq!(der_small_int(&[2, 1, 0x80]), None); // negative
    assert_eq!(der_small_int(&[2, 2, 0]), None);
    assert_eq!(der_small_int(&[4, 1, 0]), None);
    assert_eq!(der_small_int(&[2, 0]), None);
    assert_eq!(der_small_int(&[]), None);
}
