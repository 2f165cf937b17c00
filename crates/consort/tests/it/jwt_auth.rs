//! JWT bearer authentication: an issuer's JWKS given at service creation; tokens minted by
//! Python's `cryptography` (RS256 and ES256) are accepted; expired, wrongly signed,
//! unknown-key and wrong-issuer tokens get 401 — on the logging app and on the Ethereum
//! JSON-RPC endpoint.

use crate::common::*;
use serde_json::json;

#[test]
fn jwt_bearer_tokens() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // The issuer's keys and tokens come from Python, as an identity provider would make them.
    let mint = r#"
import sys, json, base64, time
from cryptography.hazmat.primitives.asymmetric import rsa, ec, padding, utils
from cryptography.hazmat.primitives import hashes
out = sys.argv[1]
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
def i2b(i, n=None):
    n = n or (i.bit_length() + 7) // 8
    return i.to_bytes(n, "big")
rk = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ek = ec.generate_private_key(ec.SECP256R1())
rn = rk.public_key().public_numbers(); en = ek.public_key().public_numbers()
jwks = {"keys": [
  {"kty": "RSA", "kid": "rsa1", "n": b64(i2b(rn.n)), "e": b64(i2b(rn.e))},
  {"kty": "EC", "kid": "ec1", "crv": "P-256", "x": b64(i2b(en.x, 32)), "y": b64(i2b(en.y, 32))},
]}
json.dump(jwks, open(out + "/jwks.json", "w"))
def tok(alg, kid, claims, key):
    h = b64(json.dumps({"alg": alg, "kid": kid, "typ": "JWT"}).encode()); p = b64(json.dumps(claims).encode())
    data = (h + "." + p).encode()
    if alg == "RS256":
        sig = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    else:
        r, s = utils.decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        sig = i2b(r, 32) + i2b(s, 32)
    return h + "." + p + "." + b64(sig)
now = int(time.time())
good = {"iss": "https://idp.example", "sub": "alice", "exp": now + 600}
other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
toks = {
  "rs256": tok("RS256", "rsa1", good, rk),
  "es256": tok("ES256", "ec1", good, ek),
  "expired": tok("RS256", "rsa1", dict(good, exp=now - 3600), rk),
  "forged": tok("RS256", "rsa1", good, other),
  "unknown_kid": tok("RS256", "nope", good, rk),
  "wrong_issuer": tok("RS256", "rsa1", dict(good, iss="https://evil.example"), rk),
}
json.dump(toks, open(out + "/tokens.json", "w"))
"#;
    let out = run_python(&["-c", mint, dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let tokens: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("tokens.json")).unwrap()).unwrap();

    let port = free_port();
    std::fs::write(
        dir.join("node.json"),
        serde_json::to_vec(&json!({
            "rpc_address": format!("127.0.0.1:{port}"),
            "data_dir": "node0",
            "signature_ms_interval": 50,
            "jwt_issuers": [{"issuer": "https://idp.example", "jwks_file": "jwks.json"}],
            "apps": {"ethereum": {"chain_id": 777}},
        }))
        .unwrap(),
    )
    .unwrap();
    let mut node = consort()
        .args(["node", "start", "--config"])
        .arg(dir.join("node.json"))
        .spawn()
        .unwrap();
    let ca = dir.join("node0/service_cert.pem");
    let url = |p: &str| format!("https://127.0.0.1:{port}{p}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let ok = ca.exists()
            && std::process::Command::new("curl")
                .args([
                    "-sf",
                    "--cacert",
                    ca.to_str().unwrap(),
                    &url("/node/network"),
                ])
                .output()
                .is_ok_and(|o| o.status.success() && text(&o.stdout).contains("\"Open\""));
        if ok {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "node did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let call_at = |token: &str, path: &str, body: &str| {
        let o = std::process::Command::new("curl")
            .args([
                "-s",
                "-o",
                "-",
                "-w",
                "\n%{http_code}",
                "--cacert",
                ca.to_str().unwrap(),
            ])
            .args([
                "-H",
                &format!("Authorization: Bearer {token}"),
                "-H",
                "content-type: application/json",
            ])
            .args(["-d", body, &url(path)])
            .output()
            .unwrap();
        let t = text(&o.stdout);
        let (body, code) = t.rsplit_once('\n').unwrap();
        (code.parse::<u16>().unwrap(), body.to_string())
    };
    let call = |token: &str, id: u64| {
        call_at(
            token,
            "/app/log/private",
            &format!(r#"{{"id": {id}, "msg": "jwt"}}"#),
        )
    };
    assert_eq!(call(tokens["rs256"].as_str().unwrap(), 1).0, 200);
    assert_eq!(call(tokens["es256"].as_str().unwrap(), 2).0, 200);
    for (name, why) in [
        ("expired", "expired"),
        ("forged", "signature"),
        ("unknown_kid", "unknown signing key"),
        ("wrong_issuer", "issuer"),
    ] {
        let (code, body) = call(tokens[name].as_str().unwrap(), 3);
        assert_eq!(code, 401, "{name}: {body}");
        assert!(
            body.contains("InvalidAuthenticationInfo") && body.contains(why),
            "{name}: {body}"
        );
    }
    let (code, _) = call("not.a.jwt", 3);
    assert_eq!(code, 401);
    // The Ethereum endpoint admits the same tokens, and only them.
    let chain_id = r#"{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}"#;
    let (code, body) = call_at(tokens["es256"].as_str().unwrap(), "/app/eth", chain_id);
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["result"],
        "0x309"
    );
    // A token's Ethereum identity names its issuer with `:` escaped, then its subject.
    let o = std::process::Command::new("curl")
        .args(["-s", "--cacert", ca.to_str().unwrap(), "-H"])
        .arg(format!(
            "Authorization: Bearer {}",
            tokens["rs256"].as_str().unwrap()
        ))
        .arg(url("/app/eth/bindings"))
        .output()
        .unwrap();
    let b: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(b["identity"], "jwt:https%3A//idp.example:alice", "{b}");
    assert_eq!(b["addresses"], json!([]), "{b}");
    let (code, body) = call_at(tokens["forged"].as_str().unwrap(), "/app/eth", chain_id);
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("InvalidAuthenticationInfo"), "{body}");
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(node.id().to_string())
        .status();
    node.wait().unwrap();
}
