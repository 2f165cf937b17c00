//! Governance end to end on a multi-node network of real processes: members, users and
//! nodes by vote, member activation, a constitution that needs unanimity, proposals signed
//! by CCF's own `ccf_cose_sign1`, and bad requests that change nothing. The history is read
//! back from the ledger alone.

use std::time::Duration;

use crate::common::{
    network::{NetOptions, Network},
    *,
};
use consort_client::{gov::Gov, Reply};
use consort_crypto::{cert::Certificate, keys::SigningKey};
use serde_json::{json, Value};

fn identity(name: &str) -> (Certificate, SigningKey) {
    let k = SigningKey::generate().unwrap();
    (
        consort_crypto::cert::self_signed_leaf(&k, name, 30).unwrap(),
        k,
    )
}

/// GET `path` until `pred` holds (reads are served by the node asked, which may be a
/// backup a moment behind).
async fn get_until(g: &Gov, path: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let v = ok(&g.get(path).await.unwrap());
        if pred(&v) {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "{path}: {v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn propose(g: &Gov, actions: Value) -> String {
    let r = g
        .propose(&json!({ "actions": actions }).to_string())
        .await
        .unwrap();
    ok(&r)["proposalId"].as_str().unwrap().to_string()
}

async fn state(g: &Gov, id: &str) -> String {
    let r = g
        .get(&format!("/gov/members/proposals/{id}"))
        .await
        .unwrap();
    ok(&r)["proposalState"].as_str().unwrap().to_string()
}

const UNANIMITY: &str = r#"
export function validate(input) {
  const p = JSON.parse(input);
  return Array.isArray(p.actions) && p.actions.length > 0
    ? { valid: true, description: "OK" }
    : { valid: false, description: "needs actions" };
}
export function resolve(proposal, proposerId, votes, activeMembers) {
  const yes = votes.filter((v) => v.vote).length;
  if (votes.some((v) => !v.vote)) return "Rejected";
  return yes === activeMembers.length ? "Accepted" : "Open";
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn members_users_nodes_and_the_constitution_by_vote() {
    let mut net = Network::start(
        1,
        NetOptions {
            auto_trust: false,
            ..Default::default()
        },
    )
    .await;
    let m0 = net.gov(0);
    assert_eq!(m0.activate().await.unwrap().status, 204);
    // Without auto-trust, a joining node waits for governance.
    net.add_node_pending(true).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !ok(&m0.get("/gov/service/nodes").await.unwrap())
        .to_string()
        .contains("Pending")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the new node never asked to join"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A node stays Pending until a transition_node_to_trusted proposal passes.
    let nodes = ok(&m0.get("/gov/service/nodes").await.unwrap());
    let pending: Vec<&Value> = nodes["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["status"] == "Pending")
        .collect();
    assert_eq!(pending.len(), 1, "{nodes}");
    let node1 = pending[0]["nodeId"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !matches!(
            tokio::time::timeout(Duration::from_secs(2), net.client(1).connect()).await,
            Ok(Ok(_))
        ),
        "a pending node does not serve"
    );
    let p = propose(
        &m0,
        json!([{"name": "transition_node_to_trusted", "args": {"node_id": node1}}]),
    )
    .await;
    assert_eq!(state(&m0, &p).await, "Open");
    let r = ok(&m0.vote(&p, true).await.unwrap());
    assert_eq!(r["proposalState"], "Accepted");
    net.wait_up(1).await;

    // member0 adds member1 (one active member: its vote is a majority).
    let (c1, k1) = identity("member1");
    let p = propose(
        &m0,
        json!([{"name": "set_member", "args": {"cert": c1.to_pem(), "member_data": {"org": "B"}}}]),
    )
    .await;
    assert_eq!(
        ok(&m0.vote(&p, true).await.unwrap())["proposalState"],
        "Accepted"
    );
    // member1, through the other node, activates and can then propose and vote.
    let m1 = net.gov_as(1, c1.clone(), &k1);
    let members = get_until(&m0, "/gov/service/members", |v| {
        v.to_string().contains(&c1.fingerprint().to_hex())
    })
    .await;
    let st = |id: &str| {
        members["value"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["memberId"] == id)
            .map(|m| m["status"].clone())
    };
    assert_eq!(st(&m1.member.id()), Some(json!("Accepted")));
    ok(&m1.activate().await.unwrap());
    // With two active members a proposal needs both.
    let (cu, ku) = identity("user1");
    let p = propose(
        &m1,
        json!([{"name": "set_user", "args": {"cert": cu.to_pem()}}]),
    )
    .await;
    assert_eq!(
        ok(&m1.vote(&p, true).await.unwrap())["proposalState"],
        "Open"
    );
    let user =
        consort_client::ClientConfig::new(net.nodes[1].rpc, &net.service_cert, Some((&cu, &ku)))
            .unwrap();
    let mut uc = user.connect().await.unwrap();
    let r = uc
        .post_json("/app/log/private", &json!({"id": 7, "msg": "too early"}))
        .await
        .unwrap();
    assert_eq!(r.status, 401, "not a user yet");
    assert_eq!(
        ok(&m0.vote(&p, true).await.unwrap())["proposalState"],
        "Accepted"
    );
    let mut uc = user.connect().await.unwrap();
    let r = uc
        .post_json(
            "/app/log/private",
            &json!({"id": 7, "msg": "hello from user1"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));

    // A constitution that needs unanimity: a proposal waits for the last ballot.
    let p = propose(
        &m0,
        json!([{"name": "set_constitution", "args": {"constitution": format!("{UNANIMITY}\n{}", default_apply())}}]),
    )
    .await;
    ok(&m0.vote(&p, true).await.unwrap());
    assert_eq!(
        ok(&m1.vote(&p, true).await.unwrap())["proposalState"],
        "Accepted"
    );
    let (c2, k2) = identity("member2");
    let p = propose(
        &m0,
        json!([{"name": "set_member", "args": {"cert": c2.to_pem()}}]),
    )
    .await;
    ok(&m0.vote(&p, true).await.unwrap());
    let m2 = net.gov_as(0, c2, &k2);
    assert_eq!(
        ok(&m1.vote(&p, true).await.unwrap())["proposalState"],
        "Accepted"
    );
    ok(&m2.activate().await.unwrap());
    let p = propose(&m0, json!([{"name": "set_user_data", "args": {"user_id": cu.fingerprint().to_hex(), "user_data": {"tier": 2}}}])).await;
    ok(&m0.vote(&p, true).await.unwrap());
    assert_eq!(
        ok(&m1.vote(&p, true).await.unwrap())["proposalState"],
        "Open",
        "two of three is not unanimity"
    );
    assert_eq!(
        ok(&m2.vote(&p, true).await.unwrap())["proposalState"],
        "Accepted"
    );

    // The history is in the ledger: every proposal and its final state, from the files.
    let mut last = 0;
    for i in 0..2 {
        last = last.max(
            net.consensus(i).await.unwrap()["last_seqno"]
                .as_u64()
                .unwrap(),
        );
    }
    for i in 0..2 {
        net.wait_commit(i, last, Duration::from_secs(10)).await;
    }
    net.stop_all();
    let out = consort()
        .args(["ledger", "show", "--table", "gov"])
        .arg(net.nodes[1].ledger())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines = text(&out.stdout);
    let mut accepted = 0;
    for l in lines.lines() {
        let j: Value = serde_json::from_str(l).unwrap();
        if let Some(w) = j["tables"]["public:ccf.gov.proposals_info"]["writes"].as_array() {
            for e in w {
                if e["value"]["state"] == "Accepted" {
                    accepted += 1;
                }
            }
        }
    }
    assert_eq!(
        accepted, 6,
        "accepted proposals recorded in the ledger:\n{lines}"
    );
    // Every signed request is there too, as the member sent it.
    let signed: Vec<Value> = lines
        .lines()
        .filter_map(|l| {
            let j: Value = serde_json::from_str(l).ok()?;
            j["tables"]["public:ccf.gov.history"]["writes"]
                .as_array()
                .cloned()
        })
        .flatten()
        .collect();
    assert!(
        signed.len() >= 10,
        "{} signed requests recorded",
        signed.len()
    );
    for w in &signed {
        use base64::Engine;
        let env = base64::engine::general_purpose::STANDARD
            .decode(w["value"]["cose_sign1"].as_str().unwrap())
            .unwrap();
        assert_eq!(env[0], 0xd2, "a tagged COSE Sign1 (CBOR tag 18)");
    }
}

/// The default constitution's `apply` (everything after its resolve).
fn default_apply() -> String {
    let c = consort_governance::DEFAULT_CONSTITUTION;
    let at = c.find("// ---- Applying accepted proposals").unwrap();
    c[at..].to_string()
}

fn cose_sign1(dir: &std::path::Path, msg_type: &str, content: &str) -> Vec<u8> {
    let f = dir.join("content.json");
    std::fs::write(&f, content).unwrap();
    let created = {
        let out = std::process::Command::new("date")
            .args(["-u", "+%Y-%m-%dT%H:%M:%S+00:00"])
            .output()
            .unwrap();
        text(&out.stdout).trim().to_string()
    };
    let tool = python().parent().unwrap().join("ccf_cose_sign1");
    let out = std::process::Command::new(tool)
        .args([
            "--ccf-gov-msg-type",
            msg_type,
            "--ccf-gov-msg-created_at",
            &created,
        ])
        .arg("--content")
        .arg(&f)
        .arg("--signing-key")
        .arg(dir.join("member0_privk.pem"))
        .arg("--signing-cert")
        .arg(dir.join("member0_cert.pem"))
        .output()
        .expect("ccf_cose_sign1 from the ccf package is required");
    assert!(out.status.success(), "{}", text(&out.stderr));
    out.stdout
}

async fn post_cose(g: &Gov, path: &str, envelope: Vec<u8>) -> Reply {
    let mut c = g.client.connect().await.unwrap();
    c.post(
        &format!("{path}?api-version=2024-07-01"),
        envelope.into(),
        "application/cose",
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ccf_signed_proposals_work_and_bad_requests_change_nothing() {
    let net = Network::start(2, NetOptions::default()).await;
    let m0 = net.gov(1); // through a backup: forwarded
    ok(&m0.activate().await.unwrap());
    let (cu, _) = identity("user1");
    let proposal =
        json!({"actions": [{"name": "set_user", "args": {"cert": cu.to_pem()}}]}).to_string();

    // Signed by CCF's ccf_cose_sign1: accepted.
    let env = cose_sign1(&net.dir, "proposal", &proposal);
    let r = post_cose(&m0, "/gov/members/proposals:create", env.clone()).await;
    let id = ok(&r)["proposalId"].as_str().unwrap().to_string();
    assert_eq!(
        ok(&m0.vote(&id, true).await.unwrap())["proposalState"],
        "Accepted"
    );
    // (Reads are served by the node asked: wait for the backup to apply the change.)
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !ok(&m0.get("/gov/service/users").await.unwrap())
        .to_string()
        .contains(&cu.fingerprint().to_hex())
    {
        assert!(std::time::Instant::now() < deadline, "user1 never appeared");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let snapshot = |v: &Value| v.to_string();
    let before = (
        snapshot(&ok(&m0.get("/gov/service/members").await.unwrap())),
        snapshot(&ok(&m0.get("/gov/service/users").await.unwrap())),
        snapshot(&ok(&m0.get("/gov/members/proposals").await.unwrap())),
    );
    // Replayed: refused.
    let r = post_cose(&m0, "/gov/members/proposals:create", env).await;
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    assert!(body(&r)["error"]["message"]
        .as_str()
        .unwrap()
        .contains("replay"));
    // Tampered: refused.
    let mut env = cose_sign1(
        &net.dir,
        "proposal",
        &proposal.replace("set_user", "set_usex"),
    );
    let at = env.len() - 120;
    env[at] ^= 1;
    let r = post_cose(&m0, "/gov/members/proposals:create", env).await;
    assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));
    // The wrong message type for the endpoint: refused.
    let env = cose_sign1(&net.dir, "ack", &proposal);
    let r = post_cose(&m0, "/gov/members/proposals:create", env).await;
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    // Malformed actions: refused with the constitution's reason.
    for bad in [
        json!({"actions": [{"name": "launch_missiles"}]}),
        json!({"actions": []}),
        json!({"nothing": true}),
    ] {
        let r = m0.propose(&bad.to_string()).await.unwrap();
        assert_eq!(r.status, 400, "{bad}: {}", String::from_utf8_lossy(&r.body));
        assert_eq!(body(&r)["error"]["code"], "ProposalFailedToValidate");
    }
    // A missing api-version.
    let mut c = m0.client.connect().await.unwrap();
    let r = c.get("/gov/service/members").await.unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(body(&r)["error"]["code"], "MissingApiVersionParameter");
    let after = (
        snapshot(&ok(&m0.get("/gov/service/members").await.unwrap())),
        snapshot(&ok(&m0.get("/gov/service/users").await.unwrap())),
        snapshot(&ok(&m0.get("/gov/members/proposals").await.unwrap())),
    );
    assert_eq!(before, after, "refused requests changed governance state");

    // A removed member can no longer propose.
    let (c1, k1) = identity("member1");
    let p = propose(
        &m0,
        json!([{"name": "set_member", "args": {"cert": c1.to_pem()}}]),
    )
    .await;
    ok(&m0.vote(&p, true).await.unwrap());
    let m1 = net.gov_as(0, c1.clone(), &k1);
    ok(&m1.activate().await.unwrap());
    let p = propose(
        &m0,
        json!([{"name": "remove_member", "args": {"member_id": m1.member.id()}}]),
    )
    .await;
    ok(&m0.vote(&p, true).await.unwrap());
    assert_eq!(
        ok(&m1.vote(&p, true).await.unwrap())["proposalState"],
        "Accepted"
    );
    let r = m1.propose(&proposal).await.unwrap();
    assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));

    // A constitution that throws or loops: clear errors, nothing changes.
    let broken = format!(
        "{}\n{}",
        r#"
export function validate(input) {
  const p = JSON.parse(input);
  if (p.actions[0].name === "set_user_data") { while (true) {} }
  if (p.actions[0].name === "remove_user") { throw new Error("no removals today"); }
  return { valid: true, description: "OK" };
}
export function resolve(proposal, proposerId, votes, activeMembers) {
  return votes.filter((v) => v.vote).length * 2 > activeMembers.length ? "Accepted" : "Open";
}
"#,
        default_apply()
    );
    let p = propose(
        &m0,
        json!([{"name": "set_constitution", "args": {"constitution": broken}}]),
    )
    .await;
    assert_eq!(
        ok(&m0.vote(&p, true).await.unwrap())["proposalState"],
        "Accepted"
    );
    let users_before = snapshot(&ok(&m0.get("/gov/service/users").await.unwrap()));
    for (action, expect) in [
        (
            json!({"name": "set_user_data", "args": {"user_id": cu.fingerprint().to_hex(), "user_data": 1}}),
            "ran longer",
        ),
        (
            json!({"name": "remove_user", "args": {"user_id": cu.fingerprint().to_hex()}}),
            "no removals today",
        ),
    ] {
        let r = m0
            .propose(&json!({"actions": [action]}).to_string())
            .await
            .unwrap();
        assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
        let msg = body(&r)["error"]["message"].as_str().unwrap().to_string();
        assert!(msg.contains(expect), "{msg}");
    }
    assert_eq!(
        users_before,
        snapshot(&ok(&m0.get("/gov/service/users").await.unwrap()))
    );
    // The node is fine afterwards.
    let mut uc = net.client(0).connect().await.unwrap();
    let r = uc
        .post_json("/app/log/private", &json!({"id": 1, "msg": "still here"}))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
}

/// Wait until node `p` has committed everything it holds (a membership change may only
/// start once the previous one committed).
async fn settle(net: &Network, p: usize) {
    let last = net.consensus(p).await.unwrap()["last_seqno"]
        .as_u64()
        .unwrap();
    net.wait_commit(p, last, Duration::from_secs(10)).await;
}

/// The node id (hex) of node `i`, from its own view.
async fn node_id(net: &Network, i: usize) -> String {
    net.consensus(i).await.unwrap()["node_id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn write_ok(net: &Network, via: usize, id: u64) {
    let mut c = net.client(via).connect().await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let r = c
            .post_json(
                "/app/log/private",
                &json!({"id": id, "msg": format!("m{id}")}),
            )
            .await;
        match r {
            Ok(r) if r.status == 200 => return,
            _ => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "write {id} via node {via} never succeeded"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
                c = net.client(via).connect().await.unwrap();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_are_replaced_and_retired_including_the_primary() {
    let mut net = Network::start(3, NetOptions::default()).await;
    let m0 = net.gov(0);
    assert_eq!(m0.activate().await.unwrap().status, 204);
    let p = net.wait_primary(&[], Duration::from_secs(10)).await;

    // Replace a failed backup: it dies, a new node joins, governance retires the dead one.
    let dead = (0..3).find(|i| *i != p).unwrap();
    let dead_id = node_id(&net, dead).await;
    let other_id = node_id(&net, (0..3).find(|i| *i != p && *i != dead).unwrap()).await;
    net.kill(dead);
    let fresh = net.add_node(true).await;
    settle(&net, p).await;
    // Consensus membership changes one node at a time.
    let prop = propose(
        &m0,
        json!([
            {"name": "remove_node", "args": {"node_id": dead_id}},
            {"name": "remove_node", "args": {"node_id": other_id}}
        ]),
    )
    .await;
    let r = m0.vote(&prop, true).await.unwrap();
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(body(&r)["error"]["code"], "MembershipChangeTooLarge");
    let prop = propose(
        &m0,
        json!([{"name": "remove_node", "args": {"node_id": dead_id}}]),
    )
    .await;
    assert_eq!(
        ok(&m0.vote(&prop, true).await.unwrap())["proposalState"],
        "Accepted"
    );
    write_ok(&net, fresh, 1).await;
    let members = net.consensus(p).await.unwrap()["members"].as_u64().unwrap();
    assert_eq!(members, 3, "the dead node left the configuration");

    // Retire the primary itself: it commits its own removal, steps down, and the others
    // go on with a new primary.
    let old_primary_id = node_id(&net, p).await;
    settle(&net, p).await;
    let prop = propose(
        &m0,
        json!([{"name": "remove_node", "args": {"node_id": old_primary_id}}]),
    )
    .await;
    assert_eq!(
        ok(&m0.vote(&prop, true).await.unwrap())["proposalState"],
        "Accepted"
    );
    let new = net.wait_primary(&[p, dead], Duration::from_secs(10)).await;
    let d = net.consensus(new).await.unwrap();
    assert_eq!(d["members"], 2, "{d}");
    let other = (0..4).find(|i| ![p, dead, new].contains(i)).unwrap();
    write_ok(&net, other, 2).await;
    let d = net.consensus(p).await.unwrap();
    assert_ne!(
        d["leadership_state"], "Leader",
        "the retired primary leads no more: {d}"
    );
    let nodes = get_until(&net.gov(new), "/gov/service/nodes", |v| {
        v.to_string().matches("Retired").count() == 2
    })
    .await;
    assert_eq!(nodes["value"].as_array().unwrap().len(), 4);
    // The two remaining nodes keep committing; their ledgers agree and verify.
    let last = net.consensus(new).await.unwrap()["last_seqno"]
        .as_u64()
        .unwrap();
    net.wait_commit(new, last, Duration::from_secs(10)).await;
    net.wait_commit(other, last, Duration::from_secs(10)).await;
    net.stop_all();
    for i in [new, other] {
        let out = consort()
            .args(["ledger", "verify"])
            .arg(net.nodes[i].ledger())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ledger_rekey_by_vote() {
    let mut net = Network::start(
        3,
        NetOptions {
            snapshot_tx_interval: 20,
            ..Default::default()
        },
    )
    .await;
    let m0 = net.gov(0);
    assert_eq!(m0.activate().await.unwrap().status, 204);
    for k in 0..10 {
        write_ok(&net, k as usize % 3, k).await;
    }
    let p = propose(&m0, json!([{"name": "trigger_ledger_rekey"}])).await;
    assert_eq!(
        ok(&m0.vote(&p, true).await.unwrap())["proposalState"],
        "Accepted"
    );
    for k in 10..50 {
        write_ok(&net, k as usize % 3, k).await;
    }
    // The rekey is in the ledger (the new secret only wrapped under the old one).
    let p0 = net.wait_primary(&[], Duration::from_secs(10)).await;
    let last = net.consensus(p0).await.unwrap()["last_seqno"]
        .as_u64()
        .unwrap();
    for i in 0..3 {
        net.wait_commit(i, last, Duration::from_secs(10)).await;
    }
    // A backup restarts (learning the new secret from its ledger) and a new node joins
    // from a snapshot taken after the rekey (it gets every secret when trusted).
    let b = (0..3).find(|i| *i != p0).unwrap();
    net.kill(b);
    net.restart(b).await;
    net.add_node(true).await;
    for k in 50..60 {
        write_ok(&net, k as usize % 4, k).await;
    }
    let last = net.consensus(p0).await.unwrap()["last_seqno"]
        .as_u64()
        .unwrap();
    for i in 0..4 {
        net.wait_commit(i, last, Duration::from_secs(20)).await;
        let mut c = net.client(i).connect().await.unwrap();
        for k in [0u64, 9, 10, 49, 59] {
            let r = c.get(&format!("/app/log/private?id={k}")).await.unwrap();
            assert_eq!(r.status, 200, "key {k} on node {i}");
            assert_eq!(r.json().unwrap()["msg"], format!("m{k}"));
        }
    }
    net.stop_all();
    let out = consort()
        .args(["ledger", "show", "--table", "rekey"])
        .arg(net.nodes[p0].ledger())
        .output()
        .unwrap();
    assert_eq!(
        text(&out.stdout).lines().count(),
        1,
        "one rekey transaction"
    );
    for n in &net.nodes[..3] {
        let out = run_python(&["-m", "ccf.read_ledger", "-q", n.ledger().to_str().unwrap()]);
        assert!(
            out.status.success(),
            "read_ledger.py on {}: {}{}",
            n.name,
            text(&out.stdout),
            text(&out.stderr)
        );
    }
}

#[test]
fn the_gov_cli_proposes_votes_and_waits_for_commit() {
    let sb = Sandbox::start();
    let gov = |args: &[&str]| {
        let out = consort()
            .arg("gov")
            .args([
                "--address",
                &format!("127.0.0.1:{}", sb.port),
                "--service-cert",
                &sb.file("service_cert.pem"),
                "--cert",
                &sb.file("member0_cert.pem"),
                "--key",
                &sb.file("member0_privk.pem"),
            ])
            .args(args)
            .output()
            .unwrap();
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    let out = consort()
        .args(["keygen", "user1", "--user", "--dir"])
        .arg(&sb.dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let cert = std::fs::read_to_string(sb.dir.join("user1_cert.pem")).unwrap();
    let p = sb.dir.join("p.json");
    std::fs::write(
        &p,
        json!({"actions": [{"name": "set_user", "args": {"cert": cert}}]}).to_string(),
    )
    .unwrap();
    let (code, out, err) = gov(&["propose", p.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(err.contains("Committed"), "waits for commit: {err}");
    let id = serde_json::from_str::<Value>(&out).unwrap()["proposalId"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, out, err) = gov(&["vote", &id, "--accept"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("\"Accepted\""), "{out}");
    let (code, out, _) = gov(&["users"]);
    assert_eq!(code, Some(0));
    let fp = Certificate::from_pem(&cert).unwrap().fingerprint().to_hex();
    assert!(out.contains(&fp), "{out}");
    // Errors: exit 1 with CCF's error body.
    let (code, out, err) = gov(&["vote", "nope", "--reject"]);
    assert_eq!(code, Some(1));
    assert!(out.contains("ProposalNotFound"), "{out}{err}");
    std::fs::write(&p, "not json").unwrap();
    let (code, _, err) = gov(&["propose", p.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("not JSON"), "{err}");
}
