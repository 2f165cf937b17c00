use super::*;

#[test]
fn probe() {
    let d = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/snp/");
    let r = |f: &str| std::fs::read(format!("{d}{f}")).unwrap();
    let virtee = endorsements_from(&r("vcek_milan.der"), &r("cert_chain_milan.pem"));
    for (rep, end) in [
        ("report_milan.bin", virtee.clone()),
        ("ccf_milan_v3.bin", r("ccf_milan_endorsements.pem")),
        ("ccf_genoa_v3.bin", r("ccf_genoa_endorsements.pem")),
        ("ccf_milan_v2.bin", r("ccf_milan_endorsements.pem")),
        ("ccf_milan_v2.bin", virtee.clone()),
    ] {
        eprintln!("{rep}: {:?}", verify(&r(rep), &end));
    }
}
