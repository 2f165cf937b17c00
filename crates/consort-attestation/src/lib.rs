//! Attestation: a node proves what code it runs before the service trusts it.
//!
//! The model is CCF's. A node's platform produces [`Evidence`] (CCF's `QuoteInfo`: a
//! format, the raw quote and its endorsements) over 64 bytes of report data that start
//! with the SHA-256 of the node's DER public key ([`report_data_for_key`]), so the
//! evidence names the key that will hold the service's secrets. [`verify`] checks the
//! evidence on its own — signatures, certificate chain, that it binds the expected key —
//! and returns the [`Claims`] it proves. [`policy::check`] then decides whether those claims
//! are allowed by the service's governance (measurements, host data, minimum TCB).
//!
//! Platforms:
//! - [`virt`] (`Insecure_Virtual`): for development, proves nothing. The measurement is the
//!   SHA-256 of the running binary, the host data the SHA-256 of an optional security
//!   policy file.
//! - [`snp`] (`AMD_SEV_SNP_v1`): AMD SEV-SNP reports from `/dev/sev-guest`, verified under
//!   AMD's Milan, Genoa and Turin roots, which are bundled; no other root is accepted.
//!
//! The crate knows nothing of the KV store, HTTP or the node: callers read the governance
//! tables into a [`policy::Policy`].

pub mod claims;
pub mod error;
pub mod evidence;
pub mod platform;
pub mod policy;
pub mod snp;
pub mod virt;

pub use claims::{Claims, GuestPolicy, Product, TcbPolicy};
pub use error::AttestError;
pub use evidence::{Evidence, Format};
pub use platform::{report_data_for_key, verify, verify_unbound, Platform, ReportData};
