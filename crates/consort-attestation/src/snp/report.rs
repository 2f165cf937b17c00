//! The SEV-SNP attestation report (AMD SEV-SNP firmware ABI, table "ATTESTATION_REPORT
//! Structure"): 1184 bytes, little-endian, versions 2, 3 and 5.
//!
//! Offsets were checked against virtee/sev (`src/firmware/guest/types/snp.rs`, commit
//! 9cf2adb), whose decoder reads the same fields in the same order with the same gaps.
//!
//! Reserved bytes: every reserved byte of the report must be zero, signed or not
//! ([`RESERVED`]), and so must the upper 24 bytes of each 72-byte signature component
//! (a P-384 scalar is 48 bytes). Firmware writes zeros there; a future firmware that puts
//! something there bumps the report version, which is refused anyway. Requiring zeros
//! means no byte of an accepted report is free for anyone to change. Reserved *bits*
//! inside fields (policy, platform info, key info, TCB versions) are not checked: they
//! are signed, and their meaning changes between versions.

use super::SnpError;

/// The size of every report version.
pub const REPORT_LEN: usize = 0x4A0;
/// The report signs its bytes `0..SIGNED_LEN`.
pub const SIGNED_LEN: usize = 0x2A0;
/// The size of a signature component (r or s) in the report, little-endian.
pub const SIG_COMPONENT_LEN: usize = 72;
/// The size of a P-384 scalar.
pub const P384_SCALAR_LEN: usize = 48;
/// The only signature algorithm SEV-SNP defines: ECDSA P-384 with SHA-384.
pub const SIG_ALGO_ECDSA_P384_SHA384: u32 = 1;
/// The versions this parser reads.
pub const SUPPORTED_VERSIONS: [u32; 3] = [2, 3, 5];

/// A named byte range of the report: `(name, offset, length)`.
pub type Field = (&'static str, usize, usize);

/// Every field of the report, for the versions that have it (`cpuid_*` from version 3,
/// `*_mit_vector` from version 5; in older versions those bytes are reserved).
pub const FIELDS: &[Field] = &[
    ("version", 0x00, 4),
    ("guest_svn", 0x04, 4),
    ("policy", 0x08, 8),
    ("family_id", 0x10, 16),
    ("image_id", 0x20, 16),
    ("vmpl", 0x30, 4),
    ("signature_algo", 0x34, 4),
    ("current_tcb", 0x38, 8),
    ("platform_info", 0x40, 8),
    ("key_info", 0x48, 4),
    ("report_data", 0x50, 64),
    ("measurement", 0x90, 48),
    ("host_data", 0xC0, 32),
    ("id_key_digest", 0xE0, 48),
    ("author_key_digest", 0x110, 48),
    ("report_id", 0x140, 32),
    ("report_id_ma", 0x160, 32),
    ("reported_tcb", 0x180, 8),
    ("cpuid_fam_id", 0x188, 1),
    ("cpuid_mod_id", 0x189, 1),
    ("cpuid_step", 0x18A, 1),
    ("chip_id", 0x1A0, 64),
    ("committed_tcb", 0x1E0, 8),
    ("current_build", 0x1E8, 1),
    ("current_minor", 0x1E9, 1),
    ("current_major", 0x1EA, 1),
    ("committed_build", 0x1EC, 1),
    ("committed_minor", 0x1ED, 1),
    ("committed_major", 0x1EE, 1),
    ("launch_tcb", 0x1F0, 8),
    ("launch_mit_vector", 0x1F8, 8),
    ("current_mit_vector", 0x200, 8),
    ("signature_r", 0x2A0, 72),
    ("signature_s", 0x2E8, 72),
];

/// The reserved byte ranges of a report of `version`: `(offset, length)`.
pub fn reserved_ranges(version: u32) -> Vec<(usize, usize)> {
    let mut out = vec![(0x4C, 4)];
    if version >= 3 {
        out.push((0x18B, 0x1A0 - 0x18B));
    } else {
        out.push((0x188, 0x1A0 - 0x188));
    }
    out.push((0x1EB, 1));
    out.push((0x1EF, 1));
    if version >= 5 {
        out.push((0x208, SIGNED_LEN - 0x208));
    } else {
        out.push((0x1F8, SIGNED_LEN - 0x1F8));
    }
    // The signature's own reserved tail (unsigned).
    out.push((0x330, REPORT_LEN - 0x330));
    out
}

/// The reserved ranges of the latest version, for documentation.
pub const RESERVED: &str = "0x4C..0x50, 0x18B..0x1A0 (0x188.. in v2), 0x1EB, 0x1EF, \
     0x208..0x2A0 (0x1F8.. before v5), 0x330..0x4A0";

/// CPUID family, model and stepping of the chip (report version 3 on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cpuid {
    /// The combined family (base + extended), e.g. 0x19.
    pub family: u8,
    /// The combined model (extended << 4 | base), e.g. 0x01.
    pub model: u8,
    pub stepping: u8,
}

impl Cpuid {
    /// CCF's hex CPUID: the EAX of CPUID leaf 1 rebuilt from family, model and stepping
    /// (`"00a00f11"` for family 19h model 01h stepping 1).
    pub fn to_hex(self) -> String {
        let (base_family, ext_family) = if self.family >= 0xf {
            (0xfu32, u32::from(self.family - 0xf))
        } else {
            (u32::from(self.family), 0)
        };
        let base_model = u32::from(self.model & 0xf);
        let ext_model = u32::from(self.model >> 4);
        let eax = (ext_family << 20)
            | (ext_model << 16)
            | (base_family << 8)
            | (base_model << 4)
            | u32::from(self.stepping & 0xf);
        format!("{eax:08x}")
    }
}

/// A firmware version (build, minor, major in the report's byte order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FwVersion {
    pub major: u8,
    pub minor: u8,
    pub build: u8,
}

impl std::fmt::Display for FwVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.build)
    }
}

/// Every field of a parsed report. TCB versions stay raw (their layout depends on the
/// product: see [`crate::TcbPolicy::from_raw`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub version: u32,
    pub guest_svn: u32,
    pub policy: u64,
    pub family_id: [u8; 16],
    pub image_id: [u8; 16],
    pub vmpl: u32,
    pub signature_algo: u32,
    pub current_tcb: [u8; 8],
    pub platform_info: u64,
    /// Bit 0 author_key_en, bit 1 mask_chip_key, bits 2..5 signing_key.
    pub key_info: u32,
    pub report_data: [u8; 64],
    pub measurement: [u8; 48],
    pub host_data: [u8; 32],
    pub id_key_digest: [u8; 48],
    pub author_key_digest: [u8; 48],
    pub report_id: [u8; 32],
    pub report_id_ma: [u8; 32],
    pub reported_tcb: [u8; 8],
    /// From version 3 on.
    pub cpuid: Option<Cpuid>,
    pub chip_id: [u8; 64],
    pub committed_tcb: [u8; 8],
    pub current_version: FwVersion,
    pub committed_version: FwVersion,
    pub launch_tcb: [u8; 8],
    /// From version 5 on.
    pub launch_mit_vector: Option<u64>,
    /// From version 5 on.
    pub current_mit_vector: Option<u64>,
    /// r, 72 bytes little-endian (only the low 48 are used).
    pub signature_r: [u8; SIG_COMPONENT_LEN],
    /// s, 72 bytes little-endian (only the low 48 are used).
    pub signature_s: [u8; SIG_COMPONENT_LEN],
}

/// `N` bytes of `b` at `off`; zeros where `b` is too short (never, after the length check).
fn arr<const N: usize>(b: &[u8], off: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(s) = off.checked_add(N).and_then(|end| b.get(off..end)) {
        out.copy_from_slice(s);
    }
    out
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(arr(b, off))
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(arr(b, off))
}

fn fw_version_at(b: &[u8], off: usize) -> FwVersion {
    let [build, minor, major] = arr::<3>(b, off);
    FwVersion {
        major,
        minor,
        build,
    }
}

/// Check the length, the version and the reserved bytes of `b`; return the version.
fn check_frame(b: &[u8]) -> Result<u32, SnpError> {
    if b.len() != REPORT_LEN {
        return Err(SnpError::Parse(format!(
            "a report is {REPORT_LEN} bytes, this is {}",
            b.len()
        )));
    }
    let version = u32_at(b, 0);
    if !SUPPORTED_VERSIONS.contains(&version) {
        return Err(SnpError::UnsupportedVersion(version));
    }
    for (off, len) in reserved_ranges(version) {
        let nonzero = b
            .get(off..off + len)
            .is_none_or(|s| s.iter().any(|&x| x != 0));
        if nonzero {
            return Err(SnpError::Parse(format!(
                "reserved bytes 0x{off:x}..0x{:x} are not zero",
                off + len
            )));
        }
    }
    for (name, off) in [("r", 0x2A0), ("s", 0x2E8)] {
        let start = off + P384_SCALAR_LEN;
        let high = b.get(start..off + SIG_COMPONENT_LEN);
        if high.is_none_or(|s| s.iter().any(|&x| x != 0)) {
            return Err(SnpError::Parse(format!(
                "signature {name} is wider than a P-384 scalar (bytes 0x{start:x}..0x{:x} are not zero)",
                off + SIG_COMPONENT_LEN
            )));
        }
    }
    Ok(version)
}

impl Report {
    /// Parse a report: its size, version (2, 3 or 5), reserved bytes, signature
    /// algorithm (must be ECDSA P-384 SHA-384) and signing key (must be the VCEK).
    /// The signature itself is checked by [`super::verify`].
    pub fn parse(b: &[u8]) -> Result<Report, SnpError> {
        let version = check_frame(b)?;
        let cpuid = (version >= 3).then(|| Cpuid {
            family: b[0x188],
            model: b[0x189],
            stepping: b[0x18A],
        });
        let (launch_mit_vector, current_mit_vector) = if version >= 5 {
            (Some(u64_at(b, 0x1F8)), Some(u64_at(b, 0x200)))
        } else {
            (None, None)
        };
        let report = Report {
            version,
            guest_svn: u32_at(b, 0x04),
            policy: u64_at(b, 0x08),
            family_id: arr(b, 0x10),
            image_id: arr(b, 0x20),
            vmpl: u32_at(b, 0x30),
            signature_algo: u32_at(b, 0x34),
            current_tcb: arr(b, 0x38),
            platform_info: u64_at(b, 0x40),
            key_info: u32_at(b, 0x48),
            report_data: arr(b, 0x50),
            measurement: arr(b, 0x90),
            host_data: arr(b, 0xC0),
            id_key_digest: arr(b, 0xE0),
            author_key_digest: arr(b, 0x110),
            report_id: arr(b, 0x140),
            report_id_ma: arr(b, 0x160),
            reported_tcb: arr(b, 0x180),
            cpuid,
            chip_id: arr(b, 0x1A0),
            committed_tcb: arr(b, 0x1E0),
            current_version: fw_version_at(b, 0x1E8),
            committed_version: fw_version_at(b, 0x1EC),
            launch_tcb: arr(b, 0x1F0),
            launch_mit_vector,
            current_mit_vector,
            signature_r: arr(b, 0x2A0),
            signature_s: arr(b, 0x2E8),
        };
        if report.signature_algo != SIG_ALGO_ECDSA_P384_SHA384 {
            return Err(SnpError::SignatureAlgorithm(report.signature_algo));
        }
        if report.signing_key() != 0 {
            return Err(SnpError::SigningKey(report.signing_key()));
        }
        Ok(report)
    }

    /// Whether the digest of the author key is in the report.
    pub fn author_key_en(&self) -> bool {
        self.key_info & 1 != 0
    }

    /// Whether the guest asked the firmware to zero the chip id.
    pub fn mask_chip_key(&self) -> bool {
        self.key_info & 2 != 0
    }

    /// The key that signed the report: 0 the VCEK, 1 a VLEK, 7 none.
    pub fn signing_key(&self) -> u32 {
        (self.key_info >> 2) & 0x7
    }

    /// The signature as P-384 `r || s`, 48 bytes each, big-endian (the "fixed" form).
    pub fn signature_fixed(&self) -> [u8; 2 * P384_SCALAR_LEN] {
        let mut out = [0u8; 2 * P384_SCALAR_LEN];
        for (i, (&r, &s)) in self.signature_r[..P384_SCALAR_LEN]
            .iter()
            .zip(&self.signature_s[..P384_SCALAR_LEN])
            .enumerate()
        {
            out[P384_SCALAR_LEN - 1 - i] = r;
            out[2 * P384_SCALAR_LEN - 1 - i] = s;
        }
        out
    }
}

#[cfg(test)]
#[path = "report_test.rs"]
mod report_test;
