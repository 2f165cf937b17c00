//! Receipts: offline proof that a transaction is in the signed ledger, in CCF's JSON shape
//! (verifiable with `ccf.receipt.root`, `ccf.receipt.verify` and
//! `ccf.receipt.check_endorsements`).

use base64::Engine;
use consort_crypto::{cert::Certificate, sha256, Sha256Digest};
use consort_kv::TxId;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::merkle::{hex_digest, root_from_proof, ProofStep};

/// The parts of a transaction's Merkle leaf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeafComponents {
    #[serde(with = "hex_digest")]
    pub claims_digest: Sha256Digest,
    /// `ce:<view>.<seqno>:<hex>`; revealed only for committed transactions.
    pub commit_evidence: String,
    #[serde(with = "hex_digest")]
    pub write_set_digest: Sha256Digest,
}

/// A receipt for one transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// PEM certificate of the node that signed the covering root.
    pub cert: String,
    #[serde(default)]
    pub is_signature_transaction: bool,
    pub leaf_components: LeafComponents,
    pub node_id: String,
    pub proof: Vec<ProofStep>,
    /// Base64 DER ECDSA signature over the root.
    pub signature: String,
    /// Certificates linking `cert` to the current service identity, if it was endorsed by
    /// an earlier one.
    #[serde(default)]
    pub service_endorsements: Vec<String>,
}

/// Why a receipt does not verify.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ReceiptError {
    #[error("malformed receipt: {0}")]
    Malformed(String),
    #[error("signature over the recomputed root does not verify with the receipt's certificate")]
    BadSignature,
    #[error("node certificate is not endorsed by the service identity: {0}")]
    NotEndorsed(String),
}

impl Receipt {
    /// The Merkle leaf this receipt proves.
    pub fn leaf(&self) -> Sha256Digest {
        let lc = &self.leaf_components;
        let ce = sha256(lc.commit_evidence.as_bytes());
        consort_crypto::sha256_concat(&[
            lc.write_set_digest.as_bytes(),
            ce.as_bytes(),
            lc.claims_digest.as_bytes(),
        ])
    }

    /// The root recomputed from the leaf and the proof.
    pub fn root(&self) -> Sha256Digest {
        root_from_proof(&self.leaf(), &self.proof)
    }

    /// The transaction id named by the commit evidence.
    pub fn txid(&self) -> Result<TxId, ReceiptError> {
        let ce = &self.leaf_components.commit_evidence;
        let rest = ce
            .strip_prefix("ce:")
            .ok_or_else(|| ReceiptError::Malformed("commit evidence must start with ce:".into()))?;
        let (txid, nonce) = rest.split_once(':').ok_or_else(|| {
            ReceiptError::Malformed("commit evidence must be ce:<txid>:<hex>".into())
        })?;
        if nonce.is_empty() || !nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ReceiptError::Malformed(
                "commit evidence nonce is not hex".into(),
            ));
        }
        txid.parse()
            .map_err(|e| ReceiptError::Malformed(format!("{e}")))
    }

    /// Verify the receipt against the service identity certificate: recompute the root,
    /// check the node's signature over it, and check the node certificate is endorsed by
    /// the service (directly or through `service_endorsements`). Returns the transaction id.
    pub fn verify(&self, service_cert: &Certificate) -> Result<TxId, ReceiptError> {
        let txid = self.txid()?;
        let node_cert = Certificate::from_pem(&self.cert)
            .map_err(|e| ReceiptError::Malformed(format!("cert: {e}")))?;
        let sig = base64::engine::general_purpose::STANDARD
            .decode(&self.signature)
            .map_err(|e| ReceiptError::Malformed(format!("signature: {e}")))?;
        node_cert
            .verifying_key()
            .and_then(|k| k.verify_digest_sha256(&self.root(), &sig))
            .map_err(|_| ReceiptError::BadSignature)?;
        let mut current = node_cert;
        for pem in &self.service_endorsements {
            let e = Certificate::from_pem(pem)
                .map_err(|e| ReceiptError::Malformed(format!("endorsement: {e}")))?;
            current
                .verify_issued_by(&e)
                .map_err(|e| ReceiptError::NotEndorsed(e.to_string()))?;
            current = e;
        }
        current
            .verify_issued_by(service_cert)
            .map_err(|e| ReceiptError::NotEndorsed(e.to_string()))?;
        Ok(txid)
    }
}
