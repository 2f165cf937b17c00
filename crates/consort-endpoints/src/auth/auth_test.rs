//! Every identity kind (TLS certificate, COSE Sign1, JWT) crossed with every failure (none,
//! unknown, expired, removed, wrong role, bad signature, replay), against a node stub.

use base64::Engine;
use bytes::Bytes;
use consort_crypto::{
    cert::{self_signed_leaf, Certificate},
    keys::SigningKey,
};
use consort_service::{genesis, identities, jwt as jwt_tables};
use coset::{iana, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable};
use http::{Method, StatusCode};

use super::*;
use crate::testing::{request, TestHost};

const USER_EP: &[AuthPolicy] = &[AuthPolicy::UserCert, AuthPolicy::UserCose, AuthPolicy::Jwt];
const MEMBER_EP: &[AuthPolicy] = &[AuthPolicy::MemberCert, AuthPolicy::MemberCose];
const DAY: i64 = 86_400;

struct Identity {
    key: SigningKey,
    cert: Certificate,
}

fn identity() -> Identity {
    let key = SigningKey::generate().unwrap();
    let cert = self_signed_leaf(&key, "someone", 30).unwrap();
    Identity { key, cert }
}

struct Fixture {
    host: TestHost,
    user: Identity,
    member: Identity,
    issuer_key: SigningKey,
}

fn fixture() -> Fixture {
    let host = TestHost::new(crate::Registry::new());
    let (user, member, issuer_key) = (identity(), identity(), SigningKey::generate().unwrap());
    let point = issuer_key.public_key_point();
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let jwks = serde_json::json!({"keys": [{"kty": "EC", "kid": "k1", "crv": "P-384",
        "x": b64(&point[1..49]), "y": b64(&point[49..])}]});
    host.write(|tx| {
        genesis::add_user(tx, &user.cert, &serde_json::Value::Null);
        genesis::add_member(tx, &member.cert, None, &serde_json::Value::Null);
        genesis::set_jwt_issuer(tx, "https://issuer", &jwks).unwrap();
    });
    Fixture {
        host,
        user,
        member,
        issuer_key,
    }
}

fn run(
    f: &Fixture,
    policies: &[AuthPolicy],
    mut req: Request,
    now: i64,
) -> Result<Caller, ApiError> {
    let mut tx = f.host.service.journal.begin();
    authenticate(&mut tx, policies, &mut req, now)
}

fn with_cert(cert: &Certificate) -> Request {
    let mut r = request(Method::POST, "/app/x");
    r.client_cert = Some(cert.clone());
    r
}

fn cose(signer: &Identity, created_at: i64, payload: &[u8]) -> Request {
    let h = HeaderBuilder::new()
        .algorithm(iana::Algorithm::ES384)
        .key_id(signer.cert.fingerprint().to_hex().into_bytes())
        .text_value("ccf.msg.created_at".into(), created_at.into())
        .build();
    let sign1 = CoseSign1Builder::new()
        .protected(h)
        .payload(payload.to_vec())
        .create_signature(b"", |d| signer.key.sign_es384(d).unwrap())
        .build();
    let mut r = request(Method::POST, "/app/x");
    r.headers.insert(
        http::header::CONTENT_TYPE,
        "application/cose".parse().unwrap(),
    );
    r.body = Bytes::from(sign1.to_tagged_vec().unwrap());
    r
}

fn jwt_token(key: &SigningKey, kid: &str, claims: serde_json::Value) -> String {
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let h = b64(serde_json::json!({"alg": "ES384", "kid": kid})
        .to_string()
        .as_bytes());
    let p = b64(claims.to_string().as_bytes());
    let sig = key.sign_es384(format!("{h}.{p}").as_bytes()).unwrap();
    format!("{h}.{p}.{}", b64(&sig))
}

fn bearer(token: &str) -> Request {
    let mut r = request(Method::POST, "/app/x");
    r.headers.insert(
        http::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    r
}

fn claims(now: i64) -> serde_json::Value {
    serde_json::json!({"iss": "https://issuer", "sub": "alice", "exp": now + 600})
}

fn refused(r: Result<Caller, ApiError>, status: StatusCode, says: &str) {
    let e = r.expect_err("must be refused");
    assert_eq!(e.status, status, "{e}");
    assert!(
        e.message.contains(says),
        "message {:?} should say {says:?}",
        e.message
    );
}

#[test]
fn the_valid_credentials_of_each_kind_are_accepted() {
    let f = fixture();
    let t = now();
    let uid = f.user.cert.fingerprint().to_hex();
    assert_eq!(
        run(&f, USER_EP, with_cert(&f.user.cert), t).unwrap(),
        Caller::User { id: uid.clone() }
    );
    let mut req = cose(&f.user, t, b"{\"a\":1}");
    let mut tx = f.host.service.journal.begin();
    assert_eq!(
        authenticate(&mut tx, USER_EP, &mut req, t).unwrap(),
        Caller::User { id: uid }
    );
    assert_eq!(
        req.body.as_ref(),
        b"{\"a\":1}",
        "the body becomes the payload"
    );
    assert!(req.cose_headers.contains_key(ENVELOPE_DIGEST));
    assert_eq!(
        run(&f, MEMBER_EP, with_cert(&f.member.cert), t).unwrap(),
        Caller::Member {
            id: f.member.cert.fingerprint().to_hex()
        }
    );
    let token = jwt_token(&f.issuer_key, "k1", claims(t));
    assert_eq!(
        run(&f, USER_EP, bearer(&token), t).unwrap(),
        Caller::Jwt {
            issuer: "https://issuer".into(),
            subject: "alice".into()
        }
    );
    assert_eq!(
        run(&f, &[AuthPolicy::NoAuth], request(Method::GET, "/x"), t).unwrap(),
        Caller::Anonymous
    );
}

#[test]
fn certificates() {
    let f = fixture();
    let t = now();
    // none
    refused(
        run(&f, USER_EP, request(Method::POST, "/app/x"), t),
        StatusCode::UNAUTHORIZED,
        "none was presented",
    );
    // unknown
    let stranger = identity();
    refused(
        run(&f, USER_EP, with_cert(&stranger.cert), t),
        StatusCode::UNAUTHORIZED,
        "Could not find",
    );
    // expired (the 30-day certificate, 31 days on) and not yet valid
    refused(
        run(&f, USER_EP, with_cert(&f.user.cert), t + 31 * DAY),
        StatusCode::UNAUTHORIZED,
        "expired",
    );
    refused(
        run(&f, USER_EP, with_cert(&f.user.cert), t - 3 * DAY),
        StatusCode::UNAUTHORIZED,
        "expired",
    );
    // wrong role, both ways
    refused(
        run(&f, MEMBER_EP, with_cert(&f.user.cert), t),
        StatusCode::FORBIDDEN,
        "is a user",
    );
    refused(
        run(&f, USER_EP, with_cert(&f.member.cert), t),
        StatusCode::FORBIDDEN,
        "is a member",
    );
    // bad signature: the same name and key type, issued by another key, is another identity
    let forged = self_signed_leaf(&SigningKey::generate().unwrap(), "someone", 30).unwrap();
    refused(
        run(&f, USER_EP, with_cert(&forged), t),
        StatusCode::UNAUTHORIZED,
        "Could not find",
    );
    // removed
    let uid = f.user.cert.fingerprint().to_hex();
    f.host.write(|tx| {
        identities::USERS_CERTS.remove(tx, &uid);
    });
    refused(
        run(&f, USER_EP, with_cert(&f.user.cert), t),
        StatusCode::UNAUTHORIZED,
        "Could not find",
    );
    // replay: not applicable at this layer — TLS proves possession of the certificate's
    // key in every handshake (rustls checks CertificateVerify), so there is nothing to
    // replay; the node's server tests cover that the certificate comes from the handshake.
}

#[test]
fn cose_sign1() {
    let f = fixture();
    let t = now();
    // none: a COSE content type with a body that is not COSE
    let mut r = cose(&f.user, t, b"x");
    r.body = Bytes::from_static(b"not cbor");
    refused(
        run(&f, USER_EP, r, t),
        StatusCode::UNAUTHORIZED,
        "not a COSE Sign1",
    );
    // unknown signer
    refused(
        run(&f, USER_EP, cose(&identity(), t, b"x"), t),
        StatusCode::UNAUTHORIZED,
        "not a registered user or member",
    );
    // expired signer certificate
    refused(
        run(&f, USER_EP, cose(&f.user, t + 31 * DAY, b"x"), t + 31 * DAY),
        StatusCode::UNAUTHORIZED,
        "expired",
    );
    // wrong role
    refused(
        run(&f, MEMBER_EP, cose(&f.user, t, b"x"), t),
        StatusCode::FORBIDDEN,
        "not allowed on this endpoint",
    );
    refused(
        run(&f, USER_EP, cose(&f.member, t, b"x"), t),
        StatusCode::FORBIDDEN,
        "not allowed on this endpoint",
    );
    // bad signature: a payload changed after signing
    let mut r = cose(&f.user, t, b"pay 1");
    let mut body = r.body.to_vec();
    let at = body.windows(5).position(|w| w == b"pay 1").unwrap();
    body[at + 4] = b'9';
    r.body = Bytes::from(body);
    refused(
        run(&f, USER_EP, r, t),
        StatusCode::UNAUTHORIZED,
        "signature is invalid",
    );
    // replay: an envelope replayed outside its validity window (governance also refuses an
    // exact replay within it: consort_governance::proposals::check_replay)
    let old = cose(&f.user, t - 2 * 3600, b"x");
    refused(
        run(&f, USER_EP, old, t),
        StatusCode::UNAUTHORIZED,
        "too far from the current time",
    );
    // removed
    let mid = f.member.cert.fingerprint().to_hex();
    f.host.write(|tx| {
        identities::MEMBERS_CERTS.remove(tx, &mid);
    });
    refused(
        run(&f, MEMBER_EP, cose(&f.member, t, b"x"), t),
        StatusCode::UNAUTHORIZED,
        "not a registered user or member",
    );
}

#[test]
fn jwt_bearer_tokens() {
    let f = fixture();
    let t = now();
    // none: an Authorization header that is not a token
    refused(
        run(&f, USER_EP, bearer("abc"), t),
        StatusCode::UNAUTHORIZED,
        "not a compact JWS",
    );
    // unknown key, and a key of an unknown issuer
    refused(
        run(
            &f,
            USER_EP,
            bearer(&jwt_token(&f.issuer_key, "k9", claims(t))),
            t,
        ),
        StatusCode::UNAUTHORIZED,
        "unknown signing key",
    );
    let mut c = claims(t);
    c["iss"] = "https://other".into();
    refused(
        run(&f, USER_EP, bearer(&jwt_token(&f.issuer_key, "k1", c)), t),
        StatusCode::UNAUTHORIZED,
        "does not own key",
    );
    // expired, not yet valid, no exp
    let token = jwt_token(&f.issuer_key, "k1", claims(t));
    refused(
        run(&f, USER_EP, bearer(&token), t + 3600),
        StatusCode::UNAUTHORIZED,
        "expired",
    );
    let mut c = claims(t);
    c["nbf"] = (t + 3600).into();
    refused(
        run(&f, USER_EP, bearer(&jwt_token(&f.issuer_key, "k1", c)), t),
        StatusCode::UNAUTHORIZED,
        "not yet valid",
    );
    let mut c = claims(t);
    c.as_object_mut().unwrap().remove("exp");
    refused(
        run(&f, USER_EP, bearer(&jwt_token(&f.issuer_key, "k1", c)), t),
        StatusCode::UNAUTHORIZED,
        "expired",
    );
    // wrong role: tokens are not accepted where only members may call
    refused(
        run(&f, MEMBER_EP, bearer(&token), t),
        StatusCode::UNAUTHORIZED,
        "requires authentication",
    );
    // bad signature: signed by another key under the issuer's kid
    let other = SigningKey::generate().unwrap();
    refused(
        run(&f, USER_EP, bearer(&jwt_token(&other, "k1", claims(t))), t),
        StatusCode::UNAUTHORIZED,
        "signature is invalid",
    );
    // removed: the issuer's key is gone
    f.host.write(|tx| {
        jwt_tables::PUBLIC_SIGNING_KEYS.remove(tx, &"k1".to_string());
    });
    refused(
        run(&f, USER_EP, bearer(&token), t),
        StatusCode::UNAUTHORIZED,
        "unknown signing key",
    );
    // replay: a bearer token is by design usable until it expires (`exp`, refused above);
    // nothing else distinguishes a replay.
}

/// As in CCF, any one of an endpoint's policies suffices: a bad or malformed bearer token
/// does not make a registered client certificate fail; alone, it is refused for itself.
#[test]
fn any_passing_policy_accepts() {
    let f = fixture();
    let t = now();
    let uid = f.user.cert.fingerprint().to_hex();
    let expired_token = jwt_token(&f.issuer_key, "k1", claims(t - 7200));
    for auth in [
        "Bearer not-a-jwt".to_string(),
        format!("Bearer {expired_token}"),
        "Basic dXNlcjpwYXNz".to_string(),
    ] {
        let mut req = with_cert(&f.user.cert);
        req.headers
            .insert(http::header::AUTHORIZATION, auth.parse().unwrap());
        assert_eq!(
            run(&f, USER_EP, req, t).unwrap(),
            Caller::User { id: uid.clone() },
            "{auth}"
        );
    }
    refused(
        run(&f, USER_EP, bearer("not-a-jwt"), t),
        StatusCode::UNAUTHORIZED,
        "JWT",
    );
    let mut basic = request(Method::POST, "/app/x");
    basic.headers.insert(
        http::header::AUTHORIZATION,
        "Basic dXNlcjpwYXNz".parse().unwrap(),
    );
    refused(
        run(&f, USER_EP, basic, t),
        StatusCode::UNAUTHORIZED,
        "Bearer <JWT>",
    );
    // An unregistered certificate and a good token: the token.
    let token = jwt_token(&f.issuer_key, "k1", claims(t));
    let mut req = with_cert(&identity().cert);
    req.headers.insert(
        http::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    assert!(matches!(
        run(&f, USER_EP, req, t).unwrap(),
        Caller::Jwt { .. }
    ));
}
