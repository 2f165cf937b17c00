use consort_attestation::{
    policy::check, report_data_for_key, verify, virt::VirtualPlatform, Platform,
};
use consort_kv::Store;

use super::*;

#[test]
fn genesis_allows_its_own_virtual_node_and_nothing_else() {
    let store = Store::new();
    let mut tx = store.begin();
    let own = VirtualPlatform::new("aa".repeat(32), "bb".repeat(32));
    let rd = report_data_for_key(b"k");
    let claims = verify(&own.quote(&rd).unwrap(), &rd).unwrap();
    allow(&mut tx, &claims, "").unwrap();
    let policy = join_policy(&mut tx, Format::InsecureVirtual).unwrap();
    check(&claims, &policy).unwrap();

    let other = VirtualPlatform::new("cc".repeat(32), "bb".repeat(32));
    let c2 = verify(&other.quote(&rd).unwrap(), &rd).unwrap();
    let e = check(&c2, &policy).unwrap_err().to_string();
    assert!(
        e.contains("public:ccf.gov.nodes.virtual.measurements"),
        "{e}"
    );
    // The SEV-SNP tables are apart.
    let snp = join_policy(&mut tx, Format::AmdSevSnpV1).unwrap();
    assert!(snp.measurements.is_empty());
}

#[test]
fn the_service_config_may_require_hardware() {
    let store = Store::new();
    let mut tx = store.begin();
    assert!(!requires_hardware(&mut tx).unwrap());
    service::CONFIG.put(
        &mut tx,
        &serde_json::json!({"recovery_threshold": 1, REQUIRE_HARDWARE: true}),
    );
    assert!(requires_hardware(&mut tx).unwrap());
    assert!(
        join_policy(&mut tx, Format::InsecureVirtual)
            .unwrap()
            .require_hardware
    );
}

/// A real Milan report (version 3, from CCF's test data) and its endorsements.
fn milan_v3_claims() -> consort_attestation::Claims {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../consort-attestation/testdata/snp/"
    );
    let report = std::fs::read(format!("{dir}ccf_milan_v3.bin")).unwrap();
    let endorsements = std::fs::read(format!("{dir}ccf_milan_endorsements.pem")).unwrap();
    consort_attestation::snp::verify(&report, &endorsements).unwrap()
}

#[test]
fn a_real_sev_snp_node_is_allowed_by_genesis_and_each_policy_table_counts() {
    let claims = milan_v3_claims();
    assert_eq!(claims.cpuid.as_deref(), Some("00a00f11"));
    let store = Store::new();
    let mut tx = store.begin();
    allow(&mut tx, &claims, "").unwrap();
    let policy = join_policy(&mut tx, Format::AmdSevSnpV1).unwrap();
    check(&claims, &policy).unwrap();
    assert!(join_policy(&mut tx, Format::InsecureVirtual)
        .unwrap()
        .measurements
        .is_empty());

    // Each table, emptied in turn, refuses it by name.
    let m = claims.measurement.clone();
    SNP_MEASUREMENTS.remove(&mut tx, &m);
    let e = check(&claims, &join_policy(&mut tx, Format::AmdSevSnpV1).unwrap()).unwrap_err();
    assert!(
        e.to_string()
            .contains("is not in public:ccf.gov.nodes.snp.measurements"),
        "{e}"
    );
    SNP_MEASUREMENTS.put(&mut tx, &m, &ALLOWED_TO_JOIN.to_string());
    SNP_HOST_DATA.remove(&mut tx, &claims.host_data);
    let e = check(&claims, &join_policy(&mut tx, Format::AmdSevSnpV1).unwrap()).unwrap_err();
    assert!(
        e.to_string().contains("public:ccf.gov.nodes.snp.host_data"),
        "{e}"
    );
    SNP_HOST_DATA.put(&mut tx, &claims.host_data, &String::new());
    // A minimum above the chip's reported TCB (one more SNP firmware level).
    let mut higher = claims.reported_tcb.clone().unwrap();
    higher.snp = higher.snp.map(|v| v + 1);
    higher.hexstring = None;
    SNP_TCB_VERSIONS.put(&mut tx, &"00a00f11".to_string(), &higher);
    let e = check(&claims, &join_policy(&mut tx, Format::AmdSevSnpV1).unwrap()).unwrap_err();
    assert!(e.to_string().contains("is below the minimum"), "{e}");
    SNP_TCB_VERSIONS.remove(&mut tx, &"00a00f11".to_string());
    let e = check(&claims, &join_policy(&mut tx, Format::AmdSevSnpV1).unwrap()).unwrap_err();
    assert!(
        e.to_string()
            .contains("no minimum TCB version for CPUID 00a00f11"),
        "{e}"
    );
}

#[test]
fn a_version_2_genesis_lets_the_same_chips_join() {
    // Version-2 reports carry no CPUID: the minimum TCB goes under the product's.
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../consort-attestation/testdata/snp/"
    );
    let read = |f: &str| std::fs::read(format!("{dir}{f}")).unwrap();
    let e = consort_attestation::snp::endorsements_from(
        &read("vcek_milan.der"),
        &read("cert_chain_milan.pem"),
    );
    let claims = consort_attestation::snp::verify(&read("report_milan.bin"), &e).unwrap();
    assert_eq!(claims.cpuid, None);
    let store = Store::new();
    let mut tx = store.begin();
    allow(&mut tx, &claims, "").unwrap();
    assert!(SNP_TCB_VERSIONS
        .get(&mut tx, &"00a00f11".to_string())
        .unwrap()
        .is_some());
    check(&claims, &join_policy(&mut tx, Format::AmdSevSnpV1).unwrap()).unwrap();
    // A recorded policy is not replaced by an empty one (a recovery without the file).
    SNP_HOST_DATA.put(&mut tx, &claims.host_data, &"policy".to_string());
    allow(&mut tx, &claims, "").unwrap();
    assert_eq!(
        SNP_HOST_DATA
            .get(&mut tx, &claims.host_data)
            .unwrap()
            .as_deref(),
        Some("policy")
    );
}
