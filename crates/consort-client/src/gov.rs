//! Governance requests as a member sends them: COSE Sign1 envelopes (ES384) with CCF's
//! protected headers (`kid` = member id, `ccf.gov.msg.type`, `ccf.gov.msg.created_at`,
//! `ccf.gov.msg.proposal_id`), signed locally — the key never leaves the caller.

use bytes::Bytes;
use consort_crypto::{cert::Certificate, keys::SigningKey};
use coset::{iana, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable};

use crate::{ClientConfig, ClientError, Reply};

/// The API version these requests use.
pub const API_VERSION: &str = "2024-07-01";

/// A member's signing identity.
#[derive(Debug)]
pub struct Member {
    pub cert: Certificate,
    pub key: SigningKey,
}

impl Member {
    /// The member id: hex SHA-256 of the certificate (DER).
    pub fn id(&self) -> String {
        self.cert.fingerprint().to_hex()
    }

    /// A COSE Sign1 envelope over `payload`.
    pub fn sign(
        &self,
        msg_type: &str,
        proposal_id: Option<&str>,
        created_at: i64,
        payload: &[u8],
    ) -> Result<Vec<u8>, ClientError> {
        let mut h = HeaderBuilder::new()
            .algorithm(iana::Algorithm::ES384)
            .key_id(self.id().into_bytes())
            .text_value("ccf.gov.msg.type".into(), msg_type.into())
            .text_value("ccf.gov.msg.created_at".into(), created_at.into());
        if let Some(p) = proposal_id {
            h = h.text_value("ccf.gov.msg.proposal_id".into(), p.into());
        }
        let mut err = None;
        let sign1 = CoseSign1Builder::new()
            .protected(h.build())
            .payload(payload.to_vec())
            .create_signature(b"", |data| {
                self.key.sign_es384(data).unwrap_or_else(|e| {
                    err = Some(e);
                    Vec::new()
                })
            })
            .build();
        if let Some(e) = err {
            return Err(ClientError::Tls(format!("signing failed: {e}")));
        }
        sign1
            .to_tagged_vec()
            .map_err(|e| ClientError::Http(format!("COSE encoding: {e}")))
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A governance client for one member.
#[derive(Debug)]
pub struct Gov {
    pub client: ClientConfig,
    pub member: Member,
}

fn path(p: &str) -> String {
    format!("{p}?api-version={API_VERSION}")
}

impl Gov {
    async fn post_signed(
        &self,
        p: &str,
        msg_type: &str,
        proposal_id: Option<&str>,
        payload: &[u8],
    ) -> Result<Reply, ClientError> {
        let body = self.member.sign(msg_type, proposal_id, now(), payload)?;
        let mut c = self.client.connect().await?;
        c.post(&path(p), Bytes::from(body), "application/cose")
            .await
    }

    /// `POST /gov/members/proposals:create`.
    pub async fn propose(&self, proposal: &str) -> Result<Reply, ClientError> {
        self.post_signed(
            "/gov/members/proposals:create",
            "proposal",
            None,
            proposal.as_bytes(),
        )
        .await
    }

    /// Vote with a ballot that always answers `accept`.
    pub async fn vote(&self, proposal_id: &str, accept: bool) -> Result<Reply, ClientError> {
        let ballot = format!("export function vote (proposal, proposerId) {{ return {accept}; }}");
        self.ballot(proposal_id, &ballot).await
    }

    /// Submit a ballot script.
    pub async fn ballot(&self, proposal_id: &str, ballot: &str) -> Result<Reply, ClientError> {
        let body = serde_json::to_vec(&serde_json::json!({ "ballot": ballot })).expect("json");
        self.post_signed(
            &format!(
                "/gov/members/proposals/{proposal_id}/ballots/{}:submit",
                self.member.id()
            ),
            "ballot",
            Some(proposal_id),
            &body,
        )
        .await
    }

    pub async fn withdraw(&self, proposal_id: &str) -> Result<Reply, ClientError> {
        self.post_signed(
            &format!("/gov/members/proposals/{proposal_id}:withdraw"),
            "withdrawal",
            Some(proposal_id),
            b"",
        )
        .await
    }

    /// Become `Active`: fetch the state digest and acknowledge it.
    pub async fn activate(&self) -> Result<Reply, ClientError> {
        let id = self.member.id();
        let r = self
            .post_signed(
                &format!("/gov/members/state-digests/{id}:update"),
                "state_digest",
                None,
                b"",
            )
            .await?;
        if r.status != 200 {
            return Ok(r);
        }
        let digest = r.json()?["stateDigest"].clone();
        let body = serde_json::to_vec(&serde_json::json!({ "stateDigest": digest })).expect("json");
        self.post_signed(
            &format!("/gov/members/state-digests/{id}:ack"),
            "ack",
            None,
            &body,
        )
        .await
    }

    /// `GET /gov/recovery/encrypted-shares/{memberId}`: this member's recovery share,
    /// still encrypted to its encryption key (decrypt it with [`decrypt_share`]).
    pub async fn encrypted_share(&self) -> Result<Vec<u8>, ClientError> {
        use base64::Engine;
        let r = self
            .get(&format!(
                "/gov/recovery/encrypted-shares/{}",
                self.member.id()
            ))
            .await?;
        if r.status != 200 {
            return Err(ClientError::Status {
                status: r.status,
                body: String::from_utf8_lossy(&r.body).into_owned(),
            });
        }
        let v = r.json()?;
        let b64 = v["encryptedShare"]
            .as_str()
            .ok_or_else(|| ClientError::Http("no encryptedShare in the reply".into()))?;
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| ClientError::Http(format!("encryptedShare is not base64: {e}")))
    }

    /// `POST /gov/recovery/members/{memberId}:recover` with this member's decrypted
    /// share, signed (`ccf.gov.msg.type` = `recovery_share`).
    pub async fn submit_share(&self, share: &[u8]) -> Result<Reply, ClientError> {
        use base64::Engine;
        let body = zeroize::Zeroizing::new(
            serde_json::to_vec(&serde_json::json!({
                "share": base64::engine::general_purpose::STANDARD.encode(share)
            }))
            .expect("json"),
        );
        self.post_signed(
            &format!("/gov/recovery/members/{}:recover", self.member.id()),
            "recovery_share",
            None,
            &body,
        )
        .await
    }

    /// `GET` a governance path (the api-version is added).
    pub async fn get(&self, p: &str) -> Result<Reply, ClientError> {
        let mut c = self.client.connect().await?;
        c.get(&path(p)).await
    }
}

/// Decrypt an encrypted recovery share with the member's encryption private key (PEM,
/// PKCS#8): on the member's own machine; the key never leaves it.
pub fn decrypt_share(
    encrypted: &[u8],
    enc_private_key_pem: &str,
) -> Result<zeroize::Zeroizing<Vec<u8>>, ClientError> {
    let key = consort_crypto::rsa::RsaPrivateKey::from_pem(enc_private_key_pem)
        .map_err(|e| ClientError::Key(format!("member encryption key: {e}")))?;
    key.decrypt_oaep_sha256(encrypted)
        .map_err(|_| ClientError::Key("the share does not decrypt with this encryption key".into()))
}
