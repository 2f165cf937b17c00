//! The VCEK certificate chain: VCEK signed by the ASK, ASK by the ARK, the ARK by itself
//! (RSA-PSS, SHA-384, salt 48), the ARK one of AMD's, which are bundled (`roots/`, copied
//! from virtee/sev `src/certs/snp/builtin/*/ark.pem`, Apache-2.0). No other root is
//! accepted. Also: the AMD extensions of the VCEK (product name, TCB, hardware id).

use aws_lc_rs::signature::{UnparsedPublicKey, RSA_PSS_2048_8192_SHA384};
use x509_parser::{certificate::X509Certificate, prelude::FromDer, time::ASN1Time};

use super::SnpError;
use crate::Product;

/// AMD's ARKs, PEM, by product.
pub const BUNDLED_ARKS: [(Product, &str); 3] = [
    (Product::Milan, include_str!("roots/milan-ark.pem")),
    (Product::Genoa, include_str!("roots/genoa-ark.pem")),
    (Product::Turin, include_str!("roots/turin-ark.pem")),
];

/// The OID of RSASSA-PSS.
const OID_RSASSA_PSS: &str = "1.2.840.113549.1.1.10";
/// AMD's VCEK extensions (AMD "Versioned Chip Endorsement Key (VCEK) Certificate and KDS
/// Interface Specification").
const OID_PRODUCT_NAME: &str = "1.3.6.1.4.1.3704.1.2";
const OID_BL_SPL: &str = "1.3.6.1.4.1.3704.1.3.1";
const OID_TEE_SPL: &str = "1.3.6.1.4.1.3704.1.3.2";
const OID_SNP_SPL: &str = "1.3.6.1.4.1.3704.1.3.3";
const OID_UCODE_SPL: &str = "1.3.6.1.4.1.3704.1.3.8";
const OID_FMC_SPL: &str = "1.3.6.1.4.1.3704.1.3.9";
const OID_HW_ID: &str = "1.3.6.1.4.1.3704.1.4";

/// The three certificates of SEV-SNP endorsements, DER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endorsements {
    pub vcek: Vec<u8>,
    pub ask: Vec<u8>,
    pub ark: Vec<u8>,
}

/// The DER of every CERTIFICATE in `pem_bytes`, in order.
pub fn pem_certificates(pem_bytes: &[u8]) -> Result<Vec<Vec<u8>>, SnpError> {
    let blocks =
        pem::parse_many(pem_bytes).map_err(|e| SnpError::Endorsements(format!("not PEM: {e}")))?;
    Ok(blocks
        .into_iter()
        .filter(|b| b.tag() == "CERTIFICATE")
        .map(pem::Pem::into_contents)
        .collect())
}

impl Endorsements {
    /// Split CCF's endorsements: PEM VCEK, ASK, ARK, in that order.
    pub fn parse(pem_bytes: &[u8]) -> Result<Self, SnpError> {
        let certs = pem_certificates(pem_bytes)?;
        match <[Vec<u8>; 3]>::try_from(certs) {
            Ok([vcek, ask, ark]) => Ok(Endorsements { vcek, ask, ark }),
            Err(certs) => Err(SnpError::Endorsements(format!(
                "expected 3 PEM certificates (VCEK, ASK, ARK), found {}",
                certs.len()
            ))),
        }
    }
}

/// A parsed certificate of the chain, with its role for error messages.
pub(crate) struct Cert<'a> {
    pub(crate) role: &'static str,
    pub(crate) x509: X509Certificate<'a>,
}

/// Parse the DER certificate `der` playing `role` (VCEK, ASK, ARK).
pub(crate) fn parse_cert<'a>(role: &'static str, der: &'a [u8]) -> Result<Cert<'a>, SnpError> {
    match X509Certificate::from_der(der) {
        Ok(([], x509)) => Ok(Cert { role, x509 }),
        Ok(_) => Err(SnpError::Endorsements(format!(
            "the {role} has trailing bytes after its certificate"
        ))),
        Err(e) => Err(SnpError::Endorsements(format!(
            "the {role} is not an X.509 certificate: {e}"
        ))),
    }
}

/// Check that `issuer` signed `subject` with RSA-PSS SHA-384 (salt 48, MGF1 SHA-384).
pub(crate) fn check_rsa_pss(subject: &Cert<'_>, issuer: &Cert<'_>) -> Result<(), SnpError> {
    let fail = |why: &str| {
        let what = if subject.role == issuer.role {
            format!("the {} is not self-signed{why}", subject.role)
        } else {
            format!(
                "the {} is not signed by the {}{why}",
                subject.role, issuer.role
            )
        };
        if subject.role == "ARK" {
            SnpError::Ark(what)
        } else {
            SnpError::Chain(what)
        }
    };
    if subject.x509.signature_algorithm.algorithm.to_id_string() != OID_RSASSA_PSS {
        return Err(fail(" (its signature is not RSA-PSS)"));
    }
    let key = issuer.x509.public_key().subject_public_key.data.as_ref();
    UnparsedPublicKey::new(&RSA_PSS_2048_8192_SHA384, key)
        .verify(
            subject.x509.tbs_certificate.as_ref(),
            subject.x509.signature_value.data.as_ref(),
        )
        .map_err(|_| fail(""))
}

/// Check that `cert` is valid at `now` (seconds since the epoch).
pub(crate) fn check_validity(cert: &Cert<'_>, now: i64) -> Result<(), SnpError> {
    let v = cert.x509.validity();
    let (nb, na) = (v.not_before, v.not_after);
    let out = |why: String| SnpError::Validity(format!("the {} {why}", cert.role));
    if now < nb.timestamp() {
        return Err(out(format!("is not valid before {nb}")));
    }
    if now > na.timestamp() {
        return Err(out(format!("expired on {na}")));
    }
    Ok(())
}

/// The current time, for [`check_validity`].
pub(crate) fn now() -> i64 {
    ASN1Time::now().timestamp()
}

/// Which bundled ARK `ark` is: byte-identical, or with the same public key.
pub(crate) fn bundled_product(ark: &Cert<'_>, ark_der: &[u8]) -> Result<Product, SnpError> {
    let presented_key = ark.x509.public_key().raw;
    for (product, pem_text) in BUNDLED_ARKS {
        let Ok(block) = pem::parse(pem_text) else {
            continue;
        };
        if block.contents() == ark_der {
            return Ok(product);
        }
        if let Ok((_, bundled)) = X509Certificate::from_der(block.contents()) {
            if bundled.public_key().raw == presented_key {
                return Ok(product);
            }
        }
    }
    Err(SnpError::Ark(
        "the root is not AMD's Milan, Genoa or Turin ARK".into(),
    ))
}

/// The raw value of extension `oid` of `cert`.
fn extension<'a>(cert: &'a Cert<'_>, oid: &str) -> Option<&'a [u8]> {
    // Exactly one: a certificate with the extension twice is read as having none.
    let mut found = cert
        .x509
        .extensions()
        .iter()
        .filter(|e| e.oid.to_id_string() == oid);
    match (found.next(), found.next()) {
        (Some(e), None) => Some(e.value),
        _ => None,
    }
}

/// A small non-negative DER INTEGER.
fn der_small_int(v: &[u8]) -> Option<u32> {
    let [0x02, len, body @ ..] = v else {
        return None;
    };
    if usize::from(*len) != body.len() || body.is_empty() || body.len() > 5 {
        return None;
    }
    if body[0] & 0x80 != 0 {
        return None;
    }
    let mut out: u64 = 0;
    for &b in body {
        out = (out << 8) | u64::from(b);
    }
    u32::try_from(out).ok()
}

/// The product named by the VCEK's productName extension ("Milan-B0", "Genoa", "Turin").
pub(crate) fn vcek_product(vcek: &Cert<'_>) -> Option<Product> {
    let v = extension(vcek, OID_PRODUCT_NAME)?;
    // An IA5String (tag 0x16) or the bare text.
    let text = match v {
        [0x16, len, body @ ..] if usize::from(*len) == body.len() => body,
        other => other,
    };
    let name = std::str::from_utf8(text).ok()?;
    match name.split('-').next()? {
        "Milan" => Some(Product::Milan),
        "Genoa" => Some(Product::Genoa),
        "Turin" => Some(Product::Turin),
        _ => None,
    }
}

/// Check the VCEK's TCB extensions against the report's reported TCB.
pub(crate) fn check_tcb(vcek: &Cert<'_>, reported: &crate::TcbPolicy) -> Result<(), SnpError> {
    let components = [
        ("blSPL", OID_BL_SPL, reported.boot_loader),
        ("teeSPL", OID_TEE_SPL, reported.tee),
        ("snpSPL", OID_SNP_SPL, reported.snp),
        ("ucodeSPL", OID_UCODE_SPL, reported.microcode),
        ("fmcSPL", OID_FMC_SPL, reported.fmc),
    ];
    for (name, oid, in_report) in components {
        let Some(in_report) = in_report else {
            continue;
        };
        let Some(raw) = extension(vcek, oid) else {
            return Err(SnpError::Tcb(format!("the VCEK has no {name} extension")));
        };
        let Some(in_vcek) = der_small_int(raw) else {
            return Err(SnpError::Tcb(format!(
                "the VCEK's {name} extension is not a DER INTEGER"
            )));
        };
        if in_vcek != in_report {
            return Err(SnpError::Tcb(format!(
                "{name} {in_vcek} in the VCEK, {in_report} in the report"
            )));
        }
    }
    Ok(())
}

/// Check the VCEK's hwID extension against the report's chip id. Turin VCEKs carry an
/// 8-byte hwID: the chip id is then those 8 bytes followed by zeros.
pub(crate) fn check_hw_id(vcek: &Cert<'_>, chip_id: &[u8; 64]) -> Result<(), SnpError> {
    let Some(raw) = extension(vcek, OID_HW_ID) else {
        return Err(SnpError::HwId("the VCEK has no hwID extension".into()));
    };
    // AMD puts the bytes bare; accept a DER OCTET STRING around them too.
    let hw_id = match raw {
        [0x04, len, body @ ..]
            if usize::from(*len) == body.len() && matches!(body.len(), 8 | 64) =>
        {
            body
        }
        other => other,
    };
    let matches = match hw_id.len() {
        64 => hw_id == chip_id,
        8 => hw_id == &chip_id[..8] && chip_id[8..].iter().all(|&b| b == 0),
        n => {
            return Err(SnpError::HwId(format!(
                "the VCEK's hwID is {n} bytes, not 64 (or 8 for Turin)"
            )))
        }
    };
    if !matches {
        return Err(SnpError::HwId(format!(
            "the VCEK is for chip {}, the report is from chip {}",
            hex::encode(hw_id),
            hex::encode(chip_id)
        )));
    }
    Ok(())
}

/// The VCEK's public key (an uncompressed P-384 point).
pub(crate) fn vcek_public_key<'a>(vcek: &'a Cert<'_>) -> &'a [u8] {
    vcek.x509.public_key().subject_public_key.data.as_ref()
}

#[cfg(test)]
#[path = "certs_test.rs"]
mod certs_test;
