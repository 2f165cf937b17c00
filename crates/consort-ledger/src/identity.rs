//! Service and node identities.

use consort_crypto::{
    cert::{self, Certificate, Sans},
    keys::SigningKey,
};

use crate::LedgerError;

/// Validity of identity certificates created here, in days.
pub const DEFAULT_VALIDITY_DAYS: i64 = 365;

/// The service identity: a P-384 key and its self-signed certificate (`CN=CCF Service`).
/// Clients and auditors trust this certificate; it endorses every node's certificate.
#[derive(Debug)]
pub struct ServiceIdentity {
    pub key: SigningKey,
    pub cert: Certificate,
}

impl ServiceIdentity {
    pub fn generate() -> Result<Self, LedgerError> {
        let key = SigningKey::generate()?;
        let cert = cert::self_signed_ca(&key, "CCF Service", DEFAULT_VALIDITY_DAYS)?;
        Ok(Self { key, cert })
    }

    pub fn from_parts(key: SigningKey, cert: Certificate) -> Result<Self, LedgerError> {
        if key.public_key_der() != cert.public_key_der() {
            return Err(consort_crypto::CryptoError::InvalidKey(
                "service key does not match its certificate".into(),
            )
            .into());
        }
        Ok(Self { key, cert })
    }

    /// Endorse a node's public key (DER SPKI).
    pub fn endorse(
        &self,
        node_public_key_der: &[u8],
        sans: &Sans,
    ) -> Result<Certificate, LedgerError> {
        Ok(cert::endorse(
            node_public_key_der,
            "CCF Node",
            sans,
            &self.cert,
            &self.key,
            DEFAULT_VALIDITY_DAYS,
        )?)
    }
}

/// A node's identity: its key, its id (hex SHA-256 of its DER public key, as in CCF) and
/// its certificate endorsed by the service identity.
#[derive(Debug)]
pub struct NodeIdentity {
    pub key: SigningKey,
    pub node_id: String,
    pub cert: Certificate,
}

impl NodeIdentity {
    /// A new node key endorsed by `service`.
    pub fn generate(service: &ServiceIdentity, sans: &Sans) -> Result<Self, LedgerError> {
        let key = SigningKey::generate()?;
        let cert = service.endorse(&key.public_key_der(), sans)?;
        Ok(Self {
            node_id: key.public_key_id(),
            key,
            cert,
        })
    }

    pub fn from_parts(key: SigningKey, cert: Certificate) -> Result<Self, LedgerError> {
        if key.public_key_der() != cert.public_key_der() {
            return Err(consort_crypto::CryptoError::InvalidKey(
                "node key does not match its certificate".into(),
            )
            .into());
        }
        Ok(Self {
            node_id: key.public_key_id(),
            key,
            cert,
        })
    }

    pub fn public_key_pem(&self) -> String {
        pem_public_key(&self.key.public_key_der())
    }
}

/// PEM `PUBLIC KEY` block for a DER SPKI.
pub fn pem_public_key(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str("-----END PUBLIC KEY-----\n");
    out
}
