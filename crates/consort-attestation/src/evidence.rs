//! The evidence a node presents: CCF's `QuoteInfo`.

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde::{Deserialize, Serialize};

use crate::AttestError;

/// The platform that produced a quote, with CCF's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Format {
    /// An AMD SEV-SNP attestation report.
    #[serde(rename = "AMD_SEV_SNP_v1")]
    AmdSevSnpV1,
    /// The development platform: no hardware, no security.
    #[serde(rename = "Insecure_Virtual")]
    InsecureVirtual,
}

impl Format {
    /// CCF's name of the format.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::AmdSevSnpV1 => "AMD_SEV_SNP_v1",
            Format::InsecureVirtual => "Insecure_Virtual",
        }
    }

    /// Whether the format proves nothing (shown next to it wherever it is printed).
    pub fn is_insecure(self) -> bool {
        self == Format::InsecureVirtual
    }

    /// Parse CCF's name of a format.
    pub fn parse(s: &str) -> Result<Self, AttestError> {
        match s {
            "AMD_SEV_SNP_v1" => Ok(Format::AmdSevSnpV1),
            "Insecure_Virtual" => Ok(Format::InsecureVirtual),
            other => Err(AttestError::UnsupportedFormat(other.to_string())),
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())?;
        if self.is_insecure() {
            f.write_str(" (insecure)")?;
        }
        Ok(())
    }
}

/// A quote and what endorses it. In JSON (as CCF's `QuoteInfo`) the quote and
/// endorsements are base64. For SEV-SNP the quote is the raw report and the endorsements
/// are the PEM chain VCEK, ASK, ARK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub format: Format,
    pub quote: Vec<u8>,
    pub endorsements: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    format: Format,
    #[serde(default)]
    quote: String,
    #[serde(default)]
    endorsements: String,
}

impl Serialize for Evidence {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Wire {
            format: self.format,
            quote: B64.encode(&self.quote),
            endorsements: B64.encode(&self.endorsements),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Evidence {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = Wire::deserialize(d)?;
        let dec = |field: &str, v: &str| {
            B64.decode(v)
                .map_err(|e| serde::de::Error::custom(format!("{field} is not base64: {e}")))
        };
        Ok(Evidence {
            format: w.format,
            quote: dec("quote", &w.quote)?,
            endorsements: dec("endorsements", &w.endorsements)?,
        })
    }
}

impl Evidence {
    /// From CCF's `QuoteInfo` JSON fields.
    pub fn from_parts(
        format: &str,
        quote_b64: &str,
        endorsements_b64: &str,
    ) -> Result<Self, AttestError> {
        let dec = |field: &str, v: &str| {
            B64.decode(v)
                .map_err(|e| AttestError::Malformed(format!("{field} is not base64: {e}")))
        };
        Ok(Evidence {
            format: Format::parse(format)?,
            quote: dec("quote", quote_b64)?,
            endorsements: dec("endorsements", endorsements_b64)?,
        })
    }

    /// The quote, base64 (CCF's `QuoteInfo.quote`, `Quote.raw`).
    pub fn quote_b64(&self) -> String {
        B64.encode(&self.quote)
    }

    /// The endorsements, base64.
    pub fn endorsements_b64(&self) -> String {
        B64.encode(&self.endorsements)
    }
}
