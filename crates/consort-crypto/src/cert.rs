//! X.509 certificates for Consort identities.
//!
//! A service has a self-signed identity certificate (`CN=CCF Service`, as CCF names it); each
//! node's certificate is *endorsed* (issued) by that identity. Receipts and ledger
//! verification check endorsements with [`Certificate::verify_issued_by`].

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SanType, SerialNumber, SubjectPublicKeyInfo, PKCS_ECDSA_P384_SHA384,
};
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::{keys::SigningKey, keys::VerifyingKey, sha256, CryptoError, Sha256Digest};

/// A parsed X.509 certificate (kept as DER, with what every request asks of it — its
/// fingerprint, validity and PEM form — worked out once; the rest parsed on demand).
/// Cheap to clone.
#[derive(Clone)]
pub struct Certificate {
    inner: std::sync::Arc<Parsed>,
}

struct Parsed {
    der: Vec<u8>,
    fingerprint: Sha256Digest,
    /// Validity period, Unix seconds.
    not_before: i64,
    not_after: i64,
    pem: std::sync::OnceLock<String>,
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.inner.der == other.inner.der
    }
}

impl Eq for Certificate {}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Certificate(sha256:{})", self.fingerprint())
    }
}

impl Certificate {
    pub fn from_der(der: &[u8]) -> Result<Self, CryptoError> {
        let (rest, c) = X509Certificate::from_der(der)
            .map_err(|e| CryptoError::InvalidCertificate(e.to_string()))?;
        if !rest.is_empty() {
            return Err(CryptoError::InvalidCertificate(
                "trailing bytes after certificate".into(),
            ));
        }
        let v = c.validity();
        Ok(Self {
            inner: std::sync::Arc::new(Parsed {
                der: der.to_vec(),
                fingerprint: sha256(der),
                not_before: v.not_before.timestamp(),
                not_after: v.not_after.timestamp(),
                pem: std::sync::OnceLock::new(),
            }),
        })
    }

    /// Parse the first `CERTIFICATE` block of `pem_text`. Trailing NULs (as older CCF
    /// versions stored) are tolerated.
    pub fn from_pem(pem_text: &str) -> Result<Self, CryptoError> {
        let p = pem::parse(pem_text.trim_end_matches('\0'))
            .map_err(|e| CryptoError::Pem(e.to_string()))?;
        if p.tag() != "CERTIFICATE" {
            return Err(CryptoError::Pem(format!(
                "expected a CERTIFICATE block, found {}",
                p.tag()
            )));
        }
        Self::from_der(p.contents())
    }

    /// Parse every `CERTIFICATE` block of a PEM bundle.
    pub fn bundle_from_pem(pem_text: &str) -> Result<Vec<Self>, CryptoError> {
        pem::parse_many(pem_text.trim_end_matches('\0'))
            .map_err(|e| CryptoError::Pem(e.to_string()))?
            .into_iter()
            .filter(|p| p.tag() == "CERTIFICATE")
            .map(|p| Self::from_der(p.contents()))
            .collect()
    }

    pub fn der(&self) -> &[u8] {
        &self.inner.der
    }

    pub fn to_pem(&self) -> String {
        self.pem().to_string()
    }

    /// PEM form (LF line endings), encoded once.
    pub fn pem(&self) -> &str {
        self.inner.pem.get_or_init(|| {
            pem::encode_config(
                &pem::Pem::new("CERTIFICATE", self.inner.der.clone()),
                pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
            )
        })
    }

    fn parsed(&self) -> X509Certificate<'_> {
        // Validated in the constructors.
        X509Certificate::from_der(&self.inner.der)
            .map(|(_, c)| c)
            .expect("certificate was validated on construction")
    }

    /// SHA-256 of the DER certificate (how CCF identifies users and members).
    pub fn fingerprint(&self) -> Sha256Digest {
        self.inner.fingerprint
    }

    /// DER SubjectPublicKeyInfo.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.parsed().public_key().raw.to_vec()
    }

    /// Hex SHA-256 of the subject's public key: a node's id (as
    /// [`crate::keys::SigningKey::public_key_id`] of its key).
    pub fn public_key_id(&self) -> String {
        crate::sha256(&self.public_key_der()).to_hex()
    }

    /// The P-384 public key of the subject.
    pub fn verifying_key(&self) -> Result<VerifyingKey, CryptoError> {
        let c = self.parsed();
        let spki = c.public_key();
        VerifyingKey::from_point(&spki.subject_public_key.data)
    }

    pub fn subject(&self) -> String {
        self.parsed().subject().to_string()
    }

    /// Check that this certificate's signature verifies under `issuer`'s public key.
    pub fn verify_issued_by(&self, issuer: &Certificate) -> Result<(), CryptoError> {
        let issuer_parsed = issuer.parsed();
        self.parsed()
            .verify_signature(Some(issuer_parsed.public_key()))
            .map_err(|e| {
                CryptoError::NotEndorsed(format!("{} by {}: {e}", self.subject(), issuer.subject()))
            })
    }

    /// Whether the certificate is valid at `now` (seconds since the Unix epoch).
    pub fn valid_at(&self, unix_secs: i64) -> bool {
        self.inner.not_before <= unix_secs && unix_secs <= self.inner.not_after
    }
}

fn rcgen_key(key: &SigningKey) -> Result<KeyPair, CryptoError> {
    KeyPair::from_pkcs8_der_and_sign_algo(&key.pkcs8_der().into(), &PKCS_ECDSA_P384_SHA384)
        .map_err(|e| CryptoError::InvalidKey(e.to_string()))
}

fn serial() -> Result<SerialNumber, CryptoError> {
    let mut s = [0u8; 16];
    crate::random_bytes(&mut s)?;
    s[0] &= 0x7f;
    Ok(SerialNumber::from_slice(&s))
}

fn base_params(cn: &str, validity_days: i64) -> Result<CertificateParams, CryptoError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    let now = OffsetDateTime::now_utc();
    // A negative validity makes an already-expired certificate (for tests of expiry).
    params.not_before = now - Duration::days(1 + (-validity_days).max(0) * 2);
    params.not_after = now + Duration::days(validity_days);
    params.serial_number = Some(serial()?);
    Ok(params)
}

fn ca_params(cn: &str, validity_days: i64) -> Result<CertificateParams, CryptoError> {
    let mut params = base_params(cn, validity_days)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::CrlSign,
    ];
    Ok(params)
}

/// A self-signed CA certificate for `key` (the service identity, `CN=CCF Service`).
pub fn self_signed_ca(
    key: &SigningKey,
    cn: &str,
    validity_days: i64,
) -> Result<Certificate, CryptoError> {
    let params = ca_params(cn, validity_days)?;
    let kp = rcgen_key(key)?;
    let c = params
        .self_signed(&kp)
        .map_err(|e| CryptoError::InvalidCertificate(e.to_string()))?;
    Certificate::from_der(c.der())
}

/// A self-signed leaf certificate (users' and members' own identities).
pub fn self_signed_leaf(
    key: &SigningKey,
    cn: &str,
    validity_days: i64,
) -> Result<Certificate, CryptoError> {
    let params = base_params(cn, validity_days)?;
    let kp = rcgen_key(key)?;
    let c = params
        .self_signed(&kp)
        .map_err(|e| CryptoError::InvalidCertificate(e.to_string()))?;
    Certificate::from_der(c.der())
}

/// Subject alternative names for an endorsed certificate.
#[derive(Debug, Clone, Default)]
pub struct Sans {
    pub dns: Vec<String>,
    pub ips: Vec<std::net::IpAddr>,
}

/// Issue a certificate for `subject_public_key_der` (DER SPKI), signed by the issuer's key
/// and naming the issuer certificate's subject: how the service identity endorses a node.
pub fn endorse(
    subject_public_key_der: &[u8],
    subject_cn: &str,
    sans: &Sans,
    issuer_cert: &Certificate,
    issuer_key: &SigningKey,
    validity_days: i64,
) -> Result<Certificate, CryptoError> {
    let mut params = base_params(subject_cn, validity_days)?;
    for d in &sans.dns {
        params.subject_alt_names.push(SanType::DnsName(
            d.clone()
                .try_into()
                .map_err(|_| CryptoError::InvalidCertificate(format!("bad DNS name {d}")))?,
        ));
    }
    for ip in &sans.ips {
        params.subject_alt_names.push(SanType::IpAddress(*ip));
    }
    // Strict verifiers (OpenSSL's X509_STRICT, as urllib3 uses) require the AKI.
    params.use_authority_key_identifier_extension = true;
    let spki = SubjectPublicKeyInfo::from_der(subject_public_key_der)
        .map_err(|e| CryptoError::InvalidKey(e.to_string()))?;
    let kp = rcgen_key(issuer_key)?;
    let issuer = rcgen::Issuer::from_ca_cert_der(&issuer_cert.der().to_vec().into(), kp)
        .map_err(|e| CryptoError::InvalidCertificate(e.to_string()))?;
    let c = params
        .signed_by(&spki, &issuer)
        .map_err(|e| CryptoError::InvalidCertificate(e.to_string()))?;
    Certificate::from_der(c.der())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endorsement_chain() {
        let service_key = SigningKey::generate().unwrap();
        let service = self_signed_ca(&service_key, "CCF Service", 365).unwrap();
        service.verify_issued_by(&service).unwrap();

        let node_key = SigningKey::generate().unwrap();
        let node = endorse(
            &node_key.public_key_der(),
            "CCF Node",
            &Sans {
                ips: vec!["127.0.0.1".parse().unwrap()],
                ..Default::default()
            },
            &service,
            &service_key,
            365,
        )
        .unwrap();
        node.verify_issued_by(&service).unwrap();
        assert_eq!(node.public_key_der(), node_key.public_key_der());
        assert_eq!(node.verifying_key().unwrap(), node_key.verifying_key());

        let other_key = SigningKey::generate().unwrap();
        let other = self_signed_ca(&other_key, "CCF Service", 365).unwrap();
        assert!(node.verify_issued_by(&other).is_err());

        let round = Certificate::from_pem(&node.to_pem()).unwrap();
        assert_eq!(round, node);
        assert!(node.valid_at(time::OffsetDateTime::now_utc().unix_timestamp()));
    }
}
