//! A real node behind `consort sandbox`, driven over HTTPS by real clients: curl, Python
//! `requests` and `httpx` with client certificates, and CCF's `ccf.receipt`.

use crate::common::*;
use serde_json::Value;

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[test]
fn sandbox_layout_and_output() {
    let sb = Sandbox::start();
    for f in [
        "service_cert.pem",
        "user0_cert.pem",
        "user0_privk.pem",
        "member0_cert.pem",
        "member0_privk.pem",
        "member0_enc_pubk.pem",
        "member0_enc_privk.pem",
        "node0/ledger",
    ] {
        assert!(sb.dir.join(f).exists(), "{f} missing");
    }
    for step in ["[1/4]", "[2/4]", "[3/4]", "[4/4]", "curl --cacert"] {
        assert!(
            sb.stdout.contains(step),
            "{step} missing from:\n{}",
            sb.stdout
        );
    }
    assert!(sb.stdout.contains(&sb.url("")), "{}", sb.stdout);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(sb.dir.join("user0_privk.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "private keys are owner-only");
    // Stopped (SIGTERM) right after `ready`: its nodes stop too.
    let dir = sb.dir.clone();
    assert!(!node_pids(&dir).is_empty(), "node processes not found");
    drop(sb);
    assert_nodes_gone(&dir);
}

/// Processes whose command line names a file under `dir` (the sandbox's nodes).
fn node_pids(dir: &std::path::Path) -> Vec<u32> {
    let needle = dir.to_str().unwrap().as_bytes().to_vec();
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        if cmd.windows(needle.len()).any(|w| w == needle.as_slice())
            && cmd.windows(10).any(|w| w == b"node\0start")
        {
            pids.push(pid);
        }
    }
    pids
}

fn assert_nodes_gone(dir: &std::path::Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !node_pids(dir).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "sandbox nodes still running after the sandbox ended: {:?}",
            node_pids(dir)
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn sandbox_killed_takes_its_nodes_with_it() {
    let tmp = tempfile::tempdir().unwrap();
    let mut sb = Sandbox::start_with(tmp.path(), &["--nodes", "2"]);
    assert_eq!(node_pids(&sb.dir).len(), 2);
    sb.child.kill().unwrap(); // SIGKILL: no chance to stop them itself
    sb.child.wait().unwrap();
    assert_nodes_gone(&sb.dir);
}

#[test]
fn curl_write_read_commit_and_receipt_verified_by_ccf() {
    let sb = Sandbox::start();
    let body = r#"{"id": 42, "msg": "Hello from curl"}"#;
    let (s, txid, b) = sb.curl(
        Some("user0"),
        &[
            "-H",
            "content-type: application/json",
            "-d",
            body,
            &sb.url("/app/log/private"),
        ],
    );
    assert_eq!((s, b.trim()), (200, "true"));
    assert!(txid.contains('.'), "transaction id header: {txid:?}");
    let (s, _, b) = sb.curl(Some("user0"), &[&sb.url("/app/log/private?id=42")]);
    assert_eq!(s, 200);
    assert_eq!(json(&b)["msg"], "Hello from curl");

    sb.wait_committed(&txid);
    let (s, _, b) = sb.curl(None, &[&sb.url("/node/commit")]);
    assert_eq!(s, 200);
    let committed: consort_kv::TxId = json(&b)["transaction_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(committed >= txid.parse().unwrap());

    // Receipt over HTTP, verified by CCF's Python package against the service cert.
    let (s, _, receipt) = sb.curl(
        Some("user0"),
        &[&sb.url(&format!("/app/receipt?transaction_id={txid}"))],
    );
    assert_eq!(s, 200, "{receipt}");
    let rp = sb.dir.join("receipt.json");
    std::fs::write(&rp, &receipt).unwrap();
    let script = r#"
import sys, json, hashlib
from cryptography.x509 import load_pem_x509_certificate
import ccf.receipt
r = json.load(open(sys.argv[1]))
service = load_pem_x509_certificate(open(sys.argv[2], "rb").read())
lc = r["leaf_components"]
leaf = hashlib.sha256(bytes.fromhex(lc["write_set_digest"]) + hashlib.sha256(lc["commit_evidence"].encode()).digest() + bytes.fromhex(lc["claims_digest"])).hexdigest()
root = ccf.receipt.root(leaf, r["proof"])
node = load_pem_x509_certificate(r["cert"].encode())
ccf.receipt.verify(root, r["signature"], node)
ccf.receipt.check_endorsements(node, service, [])
print("ok", lc["commit_evidence"].split(":")[1])
"#;
    let out = run_python(&[
        "-c",
        script,
        rp.to_str().unwrap(),
        &sb.file("service_cert.pem"),
    ]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout).trim(), format!("ok {txid}"));
    // And by our own CLI.
    let out = consort()
        .args(["receipt", "verify"])
        .arg(&rp)
        .args(["--service-cert", &sb.file("service_cert.pem")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Historical query and historical receipt, served from the ledger.
    let seqno = txid.split_once('.').unwrap().1;
    let (s, _, b) = sb.curl(
        Some("user0"),
        &[&sb.url(&format!("/app/log/private/historical?id=42&seqno={seqno}"))],
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(json(&b)["msg"], "Hello from curl");
    let (s, _, b) = sb.curl(
        Some("user0"),
        &[&sb.url(&format!(
            "/app/log/private/historical_receipt?id=42&seqno={seqno}"
        ))],
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        json(&b)["receipt"]["leaf_components"]["commit_evidence"]
            .as_str()
            .unwrap()
            .split(':')
            .nth(1)
            .unwrap(),
        txid
    );
}

#[test]
fn python_requests_and_httpx_with_client_certs() {
    let sb = Sandbox::start();
    let script = r#"
import sys, json, time
import requests, httpx
base, ca, cert, key = sys.argv[1:5]
r = requests.post(base + "/app/log/public", json={"id": 7, "msg": "from requests"}, verify=ca, cert=(cert, key))
assert r.status_code == 200 and r.json() is True, r.text
txid = r.headers["x-ms-ccf-transaction-id"]
assert requests.get(base + "/app/log/public", params={"id": 7}, verify=ca, cert=(cert, key)).json() == {"msg": "from requests"}
# No client certificate: 401 with CCF's error body.
r = requests.get(base + "/app/log/public", params={"id": 7}, verify=ca)
assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidAuthenticationInfo", r.text
import ssl
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)
with httpx.Client(verify=ctx, http2=False) as c:
    r = c.post(base + "/app/log/private", json={"id": 8, "msg": "from httpx"})
    assert r.status_code == 200, r.text
    assert c.get(base + "/app/log/private", params={"id": 8}).json()["msg"] == "from httpx"
    for _ in range(400):
        st = c.get(base + "/node/tx", params={"transaction_id": txid}).json()["status"]
        if st == "Committed":
            break
        time.sleep(0.02)
    assert st == "Committed", st
    api = c.get(base + "/app/api").json()
    assert api["openapi"].startswith("3.") and "/app/log/private" in api["paths"], api
print("ok")
"#;
    let out = run_python(&[
        "-c",
        script,
        &sb.url(""),
        &sb.file("service_cert.pem"),
        &sb.file("user0_cert.pem"),
        &sb.file("user0_privk.pem"),
    ]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout).trim(), "ok");
}

#[test]
fn bad_requests_get_clear_errors_and_change_nothing() {
    let sb = Sandbox::start();
    let read_txid = || sb.curl(Some("user0"), &[&sb.url("/app/log/private?id=5")]);
    let (s, before, _) = read_txid();
    assert_eq!(s, 404);
    let check = |(status, _, body): (u16, String, String), want: u16, code: &str| {
        assert_eq!(status, want, "{body}");
        let j = json(&body);
        assert_eq!(j["error"]["code"], code, "{body}");
        assert!(!j["error"]["message"].as_str().unwrap().is_empty());
    };
    let post = |args: &[&str]| {
        let mut a = vec!["-H", "content-type: application/json"];
        a.extend_from_slice(args);
        sb.curl(Some("user0"), &a)
    };
    let url = sb.url("/app/log/private");
    check(post(&["-d", "{not json", &url]), 400, "InvalidInput");
    check(
        post(&["-d", r#"{"id": "five", "msg": "x"}"#, &url]),
        400,
        "InvalidInput",
    );
    let big = format!(r#"{{"id": 5, "msg": "{}"}}"#, "x".repeat(2 << 20));
    let bigfile = sb.dir.join("big.json");
    std::fs::write(&bigfile, big).unwrap();
    check(
        post(&["--data-binary", &format!("@{}", bigfile.display()), &url]),
        413,
        "RequestBodyTooLarge",
    );
    check(
        sb.curl(Some("user0"), &[&sb.url("/app/nope")]),
        404,
        "ResourceNotFound",
    );
    check(
        sb.curl(Some("user0"), &["-X", "PUT", &url]),
        405,
        "UnsupportedHttpVerb",
    );
    check(
        sb.curl(Some("user0"), &[&sb.url("/node/tx?transaction_id=banana")]),
        400,
        "InvalidQueryParameterValue",
    );
    // Unknown and expired client certificates.
    use consort_crypto::{cert, keys::SigningKey};
    for (name, days) in [("stranger", 30), ("expired", -1)] {
        let k = SigningKey::generate().unwrap();
        std::fs::write(sb.dir.join(format!("{name}_privk.pem")), k.to_pem()).unwrap();
        std::fs::write(
            sb.dir.join(format!("{name}_cert.pem")),
            cert::self_signed_leaf(&k, name, days).unwrap().to_pem(),
        )
        .unwrap();
        let r = sb.curl(
            Some(name),
            &[
                "-H",
                "content-type: application/json",
                "-d",
                r#"{"id": 5, "msg": "x"}"#,
                &url,
            ],
        );
        check(r, 401, "InvalidAuthenticationInfo");
    }
    let expired_msg = sb
        .curl(Some("expired"), &[&sb.url("/app/log/private?id=5")])
        .2;
    assert!(expired_msg.contains("expired"), "{expired_msg}");
    // A member is authenticated but not allowed on user endpoints.
    check(
        post(&[
            "--cert",
            &sb.file("member0_cert.pem"),
            "--key",
            &sb.file("member0_privk.pem"),
            "-d",
            r#"{"id": 5, "msg": "x"}"#,
            &url,
        ]),
        403,
        "AuthorizationFailed",
    );
    // Nothing changed: same state version, record still absent.
    let (s, after, _) = read_txid();
    assert_eq!(s, 404);
    assert_eq!(
        before, after,
        "no transaction was committed by bad requests"
    );
}

#[test]
fn cose_signed_requests_from_ccf_tooling() {
    let sb = Sandbox::start();
    let script = r#"
import sys, json, time, datetime
import requests
from ccf.cose import create_cose_sign1
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import hashes, serialization
from cryptography import x509
from cryptography.x509.oid import NameOID
base, ca, ucert, ukey, mcert, mkey = sys.argv[1:7]
def post(env):
    return requests.post(base + "/app/log/private", data=env, headers={"content-type": "application/cose"}, verify=ca)
payload = json.dumps({"id": 9, "msg": "signed with COSE"}).encode()
hdr = {"ccf.msg.created_at": int(time.time())}
env = create_cose_sign1(payload, open(ukey).read(), open(ucert).read(), hdr)
r = post(env)
assert r.status_code == 200 and r.json() is True, r.text
before = r.headers["x-ms-ccf-transaction-id"]
r = requests.get(base + "/app/log/private", params={"id": 9}, verify=ca, cert=(ucert, ukey))
assert r.json()["msg"] == "signed with COSE", r.text
# Tampered envelope: one payload byte changed.
bad = bytearray(env); i = bytes(env).find(b"signed with"); bad[i] ^= 1
r = post(bytes(bad)); assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidAuthenticationInfo", r.text
assert "signature" in r.json()["error"]["message"], r.text
# Not COSE at all.
r = post(b"garbage"); assert r.status_code == 401, r.text
# Signed by a key nobody registered.
k = ec.generate_private_key(ec.SECP384R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mallory")])
now = datetime.datetime.now(datetime.timezone.utc)
c = x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(k.public_key()).serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1)).sign(k, hashes.SHA384())
kp = k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
cp = c.public_bytes(serialization.Encoding.PEM).decode()
r = post(create_cose_sign1(payload, kp, cp, hdr)); assert r.status_code == 401, r.text
# A member's signature on a user endpoint: authenticated, not authorised.
r = post(create_cose_sign1(payload, open(mkey).read(), open(mcert).read(), hdr)); assert r.status_code == 403, r.text
# Nothing the rejected requests carried was written.
r = requests.get(base + "/app/log/private", params={"id": 9}, verify=ca, cert=(ucert, ukey))
assert r.json()["msg"] == "signed with COSE" and r.headers["x-ms-ccf-transaction-id"] >= before
print("ok")
"#;
    let out = run_python(&[
        "-c",
        script,
        &sb.url(""),
        &sb.file("service_cert.pem"),
        &sb.file("user0_cert.pem"),
        &sb.file("user0_privk.pem"),
        &sb.file("member0_cert.pem"),
        &sb.file("member0_privk.pem"),
    ]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout).trim(), "ok");
}
