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
