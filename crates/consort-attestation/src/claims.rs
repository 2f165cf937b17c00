//! What verified evidence proves.

use serde::{Deserialize, Serialize};

use crate::Format;

/// The AMD EPYC generation of a SEV-SNP chip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Product {
    Milan,
    Genoa,
    Turin,
}

impl Product {
    /// The product of a chip's family and model (from the EAX of CPUID leaf 1): family
    /// 19h models 0xh are Milan, models 1xh Genoa, family 1Ah Turin. (CCF matches the
    /// exact models 01h and 11h; every chip CCF accepts maps the same here.)
    pub fn from_family_model(family: u8, model: u8) -> Option<Self> {
        match (family, model >> 4) {
            (0x19, 0x0) => Some(Product::Milan),
            (0x19, 0x1) => Some(Product::Genoa),
            (0x1a, _) => Some(Product::Turin),
            _ => None,
        }
    }

    /// CCF's hex CPUID string (`"00a00f11"`) as (family, model, stepping).
    pub fn parse_cpuid(hex_cpuid: &str) -> Option<(u8, u8, u8)> {
        if hex_cpuid.len() != 8 || hex_cpuid != hex_cpuid.to_lowercase() {
            return None;
        }
        let eax = u32::from_str_radix(hex_cpuid, 16).ok()?;
        let stepping = (eax & 0xf) as u8;
        let base_model = ((eax >> 4) & 0xf) as u8;
        let base_family = ((eax >> 8) & 0xf) as u8;
        let ext_model = ((eax >> 16) & 0xf) as u8;
        let ext_family = ((eax >> 20) & 0xff) as u8;
        Some((
            base_family.wrapping_add(ext_family),
            (ext_model << 4) | base_model,
            stepping,
        ))
    }
}

impl std::fmt::Display for Product {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// A TCB version as CCF's governance records it (`public:ccf.gov.nodes.snp.tcb_versions`):
/// the security patch level of each firmware component, and the raw 8 bytes as hex in
/// CCF's (reversed) order. Milan and Genoa have no `fmc`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TcbPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hexstring: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub microcode: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snp: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tee: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_loader: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fmc: Option<u32>,
}

impl TcbPolicy {
    /// Decode the raw 8-byte TCB version of a report for `product`.
    pub fn from_raw(raw: [u8; 8], product: Product) -> Self {
        let mut rev = raw;
        rev.reverse();
        let hexstring = Some(hex::encode(rev));
        let b = |i: usize| Some(u32::from(raw[i]));
        match product {
            Product::Milan | Product::Genoa => TcbPolicy {
                hexstring,
                boot_loader: b(0),
                tee: b(1),
                snp: b(6),
                microcode: b(7),
                fmc: None,
            },
            Product::Turin => TcbPolicy {
                hexstring,
                fmc: b(0),
                boot_loader: b(1),
                tee: b(2),
                snp: b(3),
                microcode: b(7),
            },
        }
    }

    /// Decode CCF's hex form (as `set_snp_minimum_tcb_version_hex` takes it) for `product`.
    pub fn from_hex(hex_tcb: &str, product: Product) -> Option<Self> {
        let mut raw = [0u8; 8];
        hex::decode_to_slice(hex_tcb, &mut raw).ok()?;
        raw.reverse();
        Some(Self::from_raw(raw, product))
    }

    /// Whether this (reported) TCB is at least `minimum`, component by component, as CCF
    /// decides: each component must be present in both or neither, and not below it.
    pub fn meets(&self, minimum: &TcbPolicy) -> bool {
        let ok = |min: Option<u32>, got: Option<u32>| match (min, got) {
            (None, None) => true,
            (Some(m), Some(g)) => m <= g,
            _ => false,
        };
        ok(minimum.microcode, self.microcode)
            && ok(minimum.snp, self.snp)
            && ok(minimum.tee, self.tee)
            && ok(minimum.boot_loader, self.boot_loader)
            && ok(minimum.fmc, self.fmc)
    }

    /// A short human form: `boot_loader=4 tee=0 snp=21 microcode=211`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        for (name, v) in [
            ("fmc", self.fmc),
            ("boot_loader", self.boot_loader),
            ("tee", self.tee),
            ("snp", self.snp),
            ("microcode", self.microcode),
        ] {
            if let Some(v) = v {
                parts.push(format!("{name}={v}"));
            }
        }
        parts.join(" ")
    }
}

/// The guest policy of a SEV-SNP report (the launch policy the guest's owner chose).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestPolicy {
    /// The raw 64-bit policy.
    pub raw: u64,
    pub abi_major: u8,
    pub abi_minor: u8,
    pub smt_allowed: bool,
    pub migrate_ma_allowed: bool,
    pub debug_allowed: bool,
    pub single_socket: bool,
}

impl GuestPolicy {
    /// Decode the raw policy field.
    pub fn from_raw(raw: u64) -> Self {
        let bit = |n: u32| raw & (1u64 << n) != 0;
        GuestPolicy {
            raw,
            abi_minor: (raw & 0xff) as u8,
            abi_major: ((raw >> 8) & 0xff) as u8,
            smt_allowed: bit(16),
            migrate_ma_allowed: bit(18),
            debug_allowed: bit(19),
            single_socket: bit(20),
        }
    }
}

/// What verified evidence proves. Hex strings are lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub format: Format,
    /// True for the virtual platform: these claims prove nothing.
    pub insecure: bool,
    /// The launch measurement (SEV-SNP: 48 bytes; virtual: SHA-256 of the binary).
    pub measurement: String,
    /// Host data (SEV-SNP: 32 bytes set by the host at launch, by convention the SHA-256
    /// of the security policy; virtual: SHA-256 of the policy file).
    pub host_data: String,
    /// The 64 bytes of report data.
    pub report_data: String,
    /// SEV-SNP only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<GuestPolicy>,
    /// The reported TCB (SEV-SNP only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_tcb: Option<TcbPolicy>,
    /// CCF's hex CPUID of the chip, from report version 3 on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<Product>,
    /// The chip id (hex, 64 bytes), unless the guest masked it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chip_id: Option<String>,
    /// The report's version (SEV-SNP only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_version: Option<u32>,
}

impl Claims {
    /// Claims of `format` with these values and no platform details (what the virtual
    /// platform proves; SEV-SNP fills in the rest).
    pub fn basic(
        format: Format,
        measurement: String,
        host_data: String,
        report_data: String,
    ) -> Self {
        Claims {
            format,
            insecure: format.is_insecure(),
            measurement,
            host_data,
            report_data,
            policy: None,
            reported_tcb: None,
            cpuid: None,
            product: None,
            chip_id: None,
            report_version: None,
        }
    }
}
