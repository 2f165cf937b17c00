//! The insecure virtual platform, for development (CCF's `Insecure_Virtual`).
//!
//! Its quote is a JSON document `{"measurement", "host_data", "report_data"}` (hex) that
//! anyone can write: it proves nothing, and every output that shows it says so. The
//! measurement is the SHA-256 of the running binary, so a changed binary has a changed
//! measurement and governance decides which binaries may join, as it would on hardware.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{AttestError, Claims, Evidence, Format, Platform, ReportData};

/// The virtual platform of this process.
#[derive(Debug, Clone)]
pub struct VirtualPlatform {
    measurement: String,
    host_data: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VirtualQuote {
    measurement: String,
    host_data: String,
    report_data: String,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes))
}

/// The SHA-256 of a file, hex, read in pieces.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(hex::encode(ctx.finish()))
}

/// The host data of a security policy: its SHA-256, or that of nothing without one.
pub fn host_data_of_policy(policy: Option<&[u8]>) -> String {
    sha256_hex(policy.unwrap_or_default())
}

impl VirtualPlatform {
    /// The platform of the running binary, with an optional security policy file.
    pub fn of_this_process(security_policy: Option<&Path>) -> Result<Self, AttestError> {
        let exe = std::env::current_exe().map_err(|e| {
            AttestError::Unavailable(format!("cannot find the running binary: {e}"))
        })?;
        let measurement = file_sha256(&exe)
            .map_err(|e| AttestError::Unavailable(format!("cannot read {}: {e}", exe.display())))?;
        let policy = security_policy
            .map(|p| {
                std::fs::read(p).map_err(|e| {
                    AttestError::Unavailable(format!("security policy {}: {e}", p.display()))
                })
            })
            .transpose()?;
        Ok(Self {
            measurement,
            host_data: host_data_of_policy(policy.as_deref()),
        })
    }

    /// A platform with the given measurement and host data (hex).
    pub fn new(measurement: String, host_data: String) -> Self {
        Self {
            measurement,
            host_data,
        }
    }

    pub fn measurement(&self) -> &str {
        &self.measurement
    }

    pub fn host_data(&self) -> &str {
        &self.host_data
    }
}

impl Platform for VirtualPlatform {
    fn format(&self) -> Format {
        Format::InsecureVirtual
    }

    fn quote(&self, report_data: &ReportData) -> Result<Evidence, AttestError> {
        let q = VirtualQuote {
            measurement: self.measurement.clone(),
            host_data: self.host_data.clone(),
            report_data: hex::encode(report_data),
        };
        Ok(Evidence {
            format: Format::InsecureVirtual,
            quote: serde_json::to_vec(&q).expect("a virtual quote serializes"),
            endorsements: Vec::new(),
        })
    }
}

fn hex_field(name: &str, v: &str, len: usize) -> Result<String, AttestError> {
    let ok = v.len() == 2 * len
        && v.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !ok {
        return Err(AttestError::Malformed(format!(
            "virtual quote: {name} must be {len} bytes of lowercase hex"
        )));
    }
    Ok(v.to_string())
}

/// Read a virtual quote. There is nothing to verify: the claims are what it says.
pub fn verify(quote: &[u8]) -> Result<Claims, AttestError> {
    let q: VirtualQuote = serde_json::from_slice(quote)
        .map_err(|e| AttestError::Malformed(format!("virtual quote: {e}")))?;
    Ok(Claims::basic(
        Format::InsecureVirtual,
        hex_field("measurement", &q.measurement, 32)?,
        hex_field("host_data", &q.host_data, 32)?,
        hex_field("report_data", &q.report_data, 64)?,
    ))
}

#[cfg(test)]
#[path = "virt_test.rs"]
mod virt_test;
