//! The join-policy actions, with CCF's names and tables.

use consort_kv::Store;

use super::*;

const YES: &str = "export function vote(p, proposer) { return true; }";

/// Propose `actions` as the only (active) member and vote for it: the final state, and
/// the store after.
fn pass(s: &Store, id: &str, actions: serde_json::Value) -> ProposalInfo {
    let mut tx = s.begin();
    if tx.get(MEMBERS_CERTS, b"m0").is_none() {
        tx.put(MEMBERS_CERTS, Bytes::from("m0"), b"pem".to_vec());
        put_json(&mut tx, MEMBERS_INFO, "m0", &json!({"status": "Active"}));
    }
    create(
        &mut tx,
        "m0",
        &json!({ "actions": actions }).to_string(),
        id,
    )
    .unwrap();
    let info = submit_ballot(&mut tx, id, "m0", YES).unwrap();
    s.commit(tx, |_| Ok::<_, String>(())).unwrap();
    info
}

fn get(s: &Store, table: &str, key: &str) -> Option<String> {
    s.begin().get(table, key.as_bytes()).map(|v| text(&v))
}

#[test]
fn measurements_and_host_data_are_added_and_removed() {
    let s = Store::new();
    let m = "ab".repeat(32);
    let info = pass(
        &s,
        "p1",
        json!([{"name": "add_virtual_measurement", "args": {"measurement": m}}]),
    );
    assert_eq!(info.state, FinalState::Accepted, "{:?}", info.failure);
    assert_eq!(
        get(&s, VIRTUAL_MEASUREMENTS, &m).as_deref(),
        Some("\"AllowedToJoin\"")
    );
    pass(
        &s,
        "p2",
        json!([{"name": "remove_virtual_measurement", "args": {"measurement": m}}]),
    );
    assert_eq!(get(&s, VIRTUAL_MEASUREMENTS, &m), None);

    let snp = "cd".repeat(48);
    pass(
        &s,
        "p3",
        json!([{"name": "add_snp_measurement", "args": {"measurement": snp}}]),
    );
    assert!(get(&s, SNP_MEASUREMENTS, &snp).is_some());
    // The host data is the SHA-256 of the security policy, which is kept with it.
    let policy = "package policy\nallow_all := true";
    let h = consort_crypto::sha256(policy.as_bytes()).to_hex();
    let info = pass(
        &s,
        "p4",
        json!([{"name": "add_snp_host_data", "args": {"host_data": h, "security_policy": policy}}]),
    );
    assert_eq!(info.state, FinalState::Accepted, "{:?}", info.failure);
    assert_eq!(
        get(&s, SNP_HOST_DATA, &h),
        Some(serde_json::to_string(policy).unwrap())
    );
    let info = pass(
        &s,
        "p5",
        json!([{"name": "add_snp_host_data", "args": {"host_data": "00".repeat(32), "security_policy": policy}}]),
    );
    assert_eq!(info.state, FinalState::Failed);
    assert!(info.failure.unwrap().contains("does not match digest"));
    let hv = "ef".repeat(32);
    pass(
        &s,
        "p6",
        json!([{"name": "add_virtual_host_data", "args": {"host_data": hv}}]),
    );
    // CCF's value of a set entry: eight zero bytes.
    assert_eq!(
        get(&s, VIRTUAL_HOST_DATA, &hv).as_deref(),
        Some("\0\0\0\0\0\0\0\0")
    );
}

#[test]
fn malformed_arguments_fail_with_the_reason() {
    let s = Store::new();
    for (i, (action, args, why)) in [
        (
            "add_snp_measurement",
            json!({"measurement": "AB"}),
            "48 bytes of lowercase hex",
        ),
        (
            "add_virtual_measurement",
            json!({}),
            "measurement must be a string",
        ),
        (
            "set_snp_minimum_tcb_version_hex",
            json!({"cpuid": "00a00f11", "tcb_version": "xyz"}),
            "8 bytes",
        ),
        (
            "set_snp_minimum_tcb_version_hex",
            json!({"cpuid": "01234567", "tcb_version": "d315000000000004"}),
            "cannot be read",
        ),
        (
            "set_snp_minimum_tcb_version",
            json!({"cpuid": "00a00f11", "tcb_version": {"tee": 1}}),
            "boot_loader",
        ),
        (
            "remove_snp_minimum_tcb_version",
            json!({"cpuid": "00a00f11"}),
            "not found",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        // Refused when proposed where the constitution checks the arguments, else when
        // applied: with the reason either way.
        let proposal = json!({"actions": [{"name": action, "args": args}]}).to_string();
        let mut tx = s.begin();
        tx.put(MEMBERS_CERTS, Bytes::from("m0"), b"pem".to_vec());
        put_json(&mut tx, MEMBERS_INFO, "m0", &json!({"status": "Active"}));
        if let Err(e) = create(&mut tx, "m0", &proposal, "check") {
            assert!(e.to_string().contains(why), "{action}: {e}");
            continue;
        }
        drop(tx);
        let info = pass(
            &s,
            &format!("p{i}"),
            json!([{"name": action, "args": args}]),
        );
        assert_eq!(info.state, FinalState::Failed, "{action}");
        let f = info.failure.unwrap_or_default();
        assert!(f.contains(why), "{action}: {f}");
    }
}

#[test]
fn minimum_tcb_versions_are_per_cpuid_in_ccf_form() {
    let s = Store::new();
    let info = pass(
        &s,
        "p1",
        json!([{"name": "set_snp_minimum_tcb_version_hex",
        "args": {"cpuid": "00a00f11", "tcb_version": "d315000000000004"}}]),
    );
    assert_eq!(info.state, FinalState::Accepted, "{:?}", info.failure);
    let v: serde_json::Value =
        serde_json::from_str(&get(&s, SNP_TCB_VERSIONS, "00a00f11").unwrap()).unwrap();
    assert_eq!(
        v,
        json!({"boot_loader": 4, "hexstring": "d315000000000004", "microcode": 211, "snp": 21, "tee": 0})
    );
    pass(
        &s,
        "p2",
        json!([{"name": "set_snp_minimum_tcb_version",
        "args": {"cpuid": "00b00f21", "tcb_version": {"boot_loader": 1, "tee": 2, "snp": 3, "microcode": 4, "fmc": 5}}}]),
    );
    let t: consort_attestation::TcbPolicy =
        serde_json::from_str(&get(&s, SNP_TCB_VERSIONS, "00b00f21").unwrap()).unwrap();
    assert_eq!(t.fmc, Some(5));
    pass(
        &s,
        "p3",
        json!([{"name": "remove_snp_minimum_tcb_version", "args": {"cpuid": "00a00f11"}}]),
    );
    assert_eq!(get(&s, SNP_TCB_VERSIONS, "00a00f11"), None);
}
