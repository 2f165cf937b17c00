use consort_kv::Store;

use super::*;
use crate::NodeRequest;

const YES: &str = "export function vote(p, proposer) { return true; }";
const NO: &str = "export function vote(p, proposer) { return false; }";

fn member(tx: &mut Tx, id: &str, active: bool) {
    tx.put(MEMBERS_CERTS, Bytes::from(id.to_string()), b"pem".to_vec());
    put_json(
        tx,
        MEMBERS_INFO,
        id,
        &json!({"status": if active { "Active" } else { "Accepted" }}),
    );
}

fn store_with(members: &[(&str, bool)]) -> Store {
    let s = Store::new();
    let mut tx = s.begin();
    for (m, a) in members {
        member(&mut tx, m, *a);
    }
    s.commit(tx, |_| Ok::<_, String>(())).unwrap();
    s
}

fn commit(s: &Store, tx: Tx) {
    s.commit(tx, |_| Ok::<_, String>(())).unwrap();
}

fn user_cert() -> String {
    let k = consort_crypto::keys::SigningKey::generate().unwrap();
    consort_crypto::cert::self_signed_leaf(&k, "user", 1)
        .unwrap()
        .to_pem()
}

#[test]
fn majority_accepts_and_applies_in_the_same_transaction() {
    let s = store_with(&[("m0", true), ("m1", true), ("m2", true)]);
    let cert = user_cert();
    let p =
        json!({"actions": [{"name": "set_user", "args": {"cert": cert, "user_data": {"x": 1}}}]})
            .to_string();
    let mut tx = s.begin();
    let info = create(&mut tx, "m0", &p, "p1").unwrap();
    assert_eq!(info.state, FinalState::Open);
    commit(&s, tx);
    let mut tx = s.begin();
    let info = submit_ballot(&mut tx, "p1", "m0", YES).unwrap();
    assert_eq!(info.state, FinalState::Open);
    let info = submit_ballot(&mut tx, "p1", "m1", YES).unwrap();
    assert_eq!(info.state, FinalState::Accepted);
    let id = consort_crypto::cert::Certificate::from_pem(&cert)
        .unwrap()
        .fingerprint()
        .to_hex();
    assert_eq!(
        tx.get(USERS_CERTS, id.as_bytes()).map(|v| text(&v)),
        Some(cert.clone())
    );
    commit(&s, tx);
    // Closed: no more ballots.
    let mut tx = s.begin();
    assert!(matches!(
        submit_ballot(&mut tx, "p1", "m2", NO),
        Err(GovError::NotOpen { .. })
    ));
}

#[test]
fn rejections_failures_withdrawals_and_drops() {
    let s = store_with(&[("m0", true), ("m1", true), ("m2", true), ("m3", false)]);
    let mut tx = s.begin();
    // Not active / not valid: refused, nothing stored.
    assert!(matches!(
        create(
            &mut tx,
            "m3",
            r#"{"actions":[{"name":"transition_service_to_open"}]}"#,
            "x"
        ),
        Err(GovError::Forbidden(_))
    ));
    assert!(matches!(
        create(&mut tx, "m0", r#"{"actions":[{"name":"nope"}]}"#, "x"),
        Err(GovError::Invalid(_))
    ));
    assert!(tx.get(PROPOSALS_INFO, b"x").is_none());
    // Rejected by a majority of no.
    create(
        &mut tx,
        "m0",
        r#"{"actions":[{"name":"remove_user","args":{"user_id":"u"}}]}"#,
        "r",
    )
    .unwrap();
    submit_ballot(&mut tx, "r", "m1", NO).unwrap();
    assert_eq!(
        submit_ballot(&mut tx, "r", "m2", NO).unwrap().state,
        FinalState::Rejected
    );
    // Accepted but the action fails: Failed, with the reason, and no change.
    create(
        &mut tx,
        "m0",
        r#"{"actions":[{"name":"remove_user","args":{"user_id":"u"}}]}"#,
        "f",
    )
    .unwrap();
    submit_ballot(&mut tx, "f", "m0", YES).unwrap();
    let info = submit_ballot(&mut tx, "f", "m1", YES).unwrap();
    assert_eq!(info.state, FinalState::Failed);
    assert!(info.failure.unwrap().contains("no user u"));
    // Withdrawn by its proposer only.
    create(
        &mut tx,
        "m1",
        r#"{"actions":[{"name":"set_recovery_threshold","args":{"recovery_threshold":1}}]}"#,
        "w",
    )
    .unwrap();
    assert!(withdraw(&mut tx, "w", "m0").is_err());
    assert_eq!(
        withdraw(&mut tx, "w", "m1").unwrap().state,
        FinalState::Withdrawn
    );
    // A trust-widening proposal drops the other open ones; removing a member drops theirs.
    create(
        &mut tx,
        "m1",
        r#"{"actions":[{"name":"set_recovery_threshold","args":{"recovery_threshold":1}}]}"#,
        "o1",
    )
    .unwrap();
    create(
        &mut tx,
        "m2",
        r#"{"actions":[{"name":"set_recovery_threshold","args":{"recovery_threshold":2}}]}"#,
        "o2",
    )
    .unwrap();
    create(
        &mut tx,
        "m0",
        r#"{"actions":[{"name":"add_node_code","args":{"code_id":"abc"}}]}"#,
        "c",
    )
    .unwrap();
    submit_ballot(&mut tx, "c", "m0", YES).unwrap();
    assert_eq!(
        submit_ballot(&mut tx, "c", "m1", YES).unwrap().state,
        FinalState::Accepted
    );
    assert_eq!(get(&mut tx, "o1").unwrap().state, FinalState::Dropped);
    assert_eq!(get(&mut tx, "o2").unwrap().state, FinalState::Dropped);
    create(
        &mut tx,
        "m2",
        r#"{"actions":[{"name":"set_recovery_threshold","args":{"recovery_threshold":2}}]}"#,
        "o3",
    )
    .unwrap();
    create(
        &mut tx,
        "m0",
        r#"{"actions":[{"name":"remove_member","args":{"member_id":"m2"}}]}"#,
        "rm",
    )
    .unwrap();
    submit_ballot(&mut tx, "rm", "m0", YES).unwrap();
    assert_eq!(
        submit_ballot(&mut tx, "rm", "m1", YES).unwrap().state,
        FinalState::Accepted
    );
    assert_eq!(get(&mut tx, "o3").unwrap().state, FinalState::Dropped);
    assert!(tx.get(MEMBERS_CERTS, b"m2").is_none());
}

#[test]
fn a_looping_or_throwing_constitution_changes_nothing() {
    let s = store_with(&[("m0", true)]);
    for bad in [
        "export function validate(p) { while (true) {} }\nexport function resolve() { return 'Accepted'; }\nexport function apply() {}",
        "export function validate(p) { throw new Error('boom'); }\nexport function resolve() { return 'Accepted'; }\nexport function apply() {}",
        "export function validate(p) { return {valid: true}; }\nexport function resolve() { while (true) {} }\nexport function apply() {}",
    ] {
        let mut tx = s.begin();
        set_constitution(&mut tx, bad);
        let r = create(&mut tx, "m0", r#"{"actions":[{"name":"x"}]}"#, "p");
        assert!(matches!(r, Err(GovError::Script(_))), "{r:?}");
    }
    // A looping apply: the proposal fails, nothing else changes.
    let mut tx = s.begin();
    set_constitution(
        &mut tx,
        "export function validate(p) { return {valid: true}; }\nexport function resolve() { return 'Accepted'; }\nexport function apply() { ccf.kv['public:ccf.gov.users.certs'].set('u', 'x'); while (true) {} }",
    );
    let info = create(&mut tx, "m0", r#"{"actions":[{"name":"x"}]}"#, "p").unwrap();
    assert_eq!(info.state, FinalState::Failed);
    assert!(tx.get(USERS_CERTS, b"u").is_none());
    // Writes outside governance tables are refused by the runtime.
    set_constitution(
        &mut tx,
        "export function validate(p) { return {valid: true}; }\nexport function resolve() { return 'Accepted'; }\nexport function apply() { ccf.kv['public:app'].set('k', 'v'); }",
    );
    let info = create(&mut tx, "m0", r#"{"actions":[{"name":"x"}]}"#, "q").unwrap();
    assert_eq!(info.state, FinalState::Failed);
    assert!(info.failure.unwrap().contains("public:ccf.gov"));
}

#[test]
fn replays_are_refused() {
    let s = store_with(&[]);
    let mut tx = s.begin();
    let req = |digest, created_at| SignedRequest {
        member: "m0",
        digest,
        created_at,
        envelope_b64: Some("ZW52"),
    };
    let now = 1_000_000;
    check_replay(&mut tx, req("abc", now), now).unwrap();
    assert!(check_replay(&mut tx, req("abc", now), now).is_err());
    check_replay(&mut tx, req("abd", now), now).unwrap();
    assert!(tx.get(HISTORY, b"m0").is_some());
    // Too old to check: refused; much later, old records are forgotten.
    assert!(check_replay(&mut tx, req("old", now - 7200), now).is_err());
    let later = now + 3 * REQUEST_WINDOW_SECS;
    check_replay(&mut tx, req("new", later), later).unwrap();
    assert!(tx.get(COSE_RECENT, b"abc").is_none());
    assert!(tx.get(COSE_RECENT, b"new").is_some());
}

#[test]
fn a_ballot_cannot_tamper_with_the_constitution_or_other_ballots() {
    let s = store_with(&[("m0", true), ("m1", true), ("m2", true)]);
    let mut tx = s.begin();
    create(
        &mut tx,
        "m0",
        r#"{"actions":[{"name":"set_recovery_threshold","args":{"recovery_threshold":1}}]}"#,
        "p",
    )
    .unwrap();
    for evil in [
        // Replace the constitution's exports...
        "globalThis.__module_constitution = { resolve: () => 'Accepted', apply: () => {} };\nexport function vote() { return true; }",
        // ...or make every set look like a majority.
        "Object.defineProperty(Set.prototype, 'size', { get: () => 1 });\nexport function vote() { return true; }",
    ] {
        let info = submit_ballot(&mut tx, "p", "m0", evil).unwrap();
        assert_eq!(info.state, FinalState::Open, "one vote of three is not a majority");
        // Start over with a fresh proposal for the next attempt.
        let mut i = get(&mut tx, "p").unwrap();
        i.ballots.clear();
        put_json(&mut tx, PROPOSALS_INFO, "p", &i);
    }
}

/// Accept proposal `p` (ballots by m0 and m1 of three).
fn accept(tx: &mut Tx, id: &str, p: &str) -> ProposalInfo {
    create(tx, "m0", p, id).unwrap();
    submit_ballot(tx, id, "m0", YES).unwrap();
    submit_ballot(tx, id, "m1", YES).unwrap()
}

#[test]
fn recovery_actions_validate_and_ask_the_node() {
    let s = store_with(&[("m0", true), ("m1", true), ("m2", false)]);
    let mut tx = s.begin();
    for m in ["m0", "m2"] {
        tx.put(MEMBERS_ENC_KEYS, Bytes::from(m), b"rsa pem".to_vec());
    }
    put_json(
        &mut tx,
        SERVICE_INFO,
        "\0\0\0\0\0\0\0\0",
        &json!({"cert": "c", "status": "Open"}),
    );
    // Open: the threshold counts active recovery members only (m0).
    let t2 = r#"{"actions":[{"name":"set_recovery_threshold","args":{"recovery_threshold":2}}]}"#;
    let info = accept(&mut tx, "t2", t2);
    assert_eq!(info.state, FinalState::Failed);
    assert!(info
        .failure
        .unwrap()
        .contains("only 1 active recovery members"));
    let t1 = r#"{"actions":[{"name":"set_recovery_threshold","args":{"recovery_threshold":1}}]}"#;
    assert_eq!(accept(&mut tx, "t1", t1).state, FinalState::Accepted);
    let t0 = r#"{"actions":[{"name":"set_recovery_threshold","args":{"recovery_threshold":0}}]}"#;
    assert_eq!(accept(&mut tx, "t0", t0).state, FinalState::Failed);
    let refresh = r#"{"actions":[{"name":"trigger_recovery_shares_refresh"}]}"#;
    let info = accept(&mut tx, "r", refresh);
    assert_eq!(info.node_requests, vec![NodeRequest::RefreshRecoveryShares]);
    // Removing an active recovery member rotates the ledger secret (its share must not
    // count any more); below the threshold it is refused.
    let rm = r#"{"actions":[{"name":"remove_member","args":{"member_id":"m0"}}]}"#;
    let info = accept(&mut tx, "rm", rm);
    assert_eq!(
        info.state,
        FinalState::Failed,
        "m0 is the only recovery member, threshold 1"
    );
    // Recovering: both identities are required, and passed to the node.
    put_json(
        &mut tx,
        SERVICE_INFO,
        "\0\0\0\0\0\0\0\0",
        &json!({"cert": "c", "status": "Recovering"}),
    );
    let open = r#"{"actions":[{"name":"transition_service_to_open","args":{"next_service_identity":"n"}}]}"#;
    let info = accept(&mut tx, "o1", open);
    assert!(info.failure.unwrap().contains("requires both"));
    let open = r#"{"actions":[{"name":"transition_service_to_open","args":{"previous_service_identity":"p","next_service_identity":"n"}}]}"#;
    let info = accept(&mut tx, "o2", open);
    assert_eq!(
        info.node_requests,
        vec![NodeRequest::OpenService {
            previous_identity: Some("p".into()),
            next_identity: Some("n".into())
        }]
    );
}
