//! The governance tables by name, from the service schema (`consort-service`, where each
//! is declared once with its record type).

use consort_service::{attestation, gov, identities, jwt, nodes, service};

pub const MEMBERS_CERTS: &str = identities::MEMBERS_CERTS.name();
pub const MEMBERS_INFO: &str = identities::MEMBERS_INFO.name();
pub const MEMBERS_ENC_KEYS: &str = identities::MEMBERS_ENC_KEYS.name();
pub const USERS_CERTS: &str = identities::USERS_CERTS.name();
pub const USERS_INFO: &str = identities::USERS_INFO.name();
pub const NODES_INFO: &str = nodes::INFO.name();
pub const NODES_ENDORSED_CERTS: &str = nodes::ENDORSED_CERTIFICATES.name();
pub const NODES_CODE_IDS: &str = nodes::CODE_IDS.name();
pub const SNP_MEASUREMENTS: &str = attestation::SNP_MEASUREMENTS.name();
pub const SNP_HOST_DATA: &str = attestation::SNP_HOST_DATA.name();
pub const SNP_TCB_VERSIONS: &str = attestation::SNP_TCB_VERSIONS.name();
pub const VIRTUAL_MEASUREMENTS: &str = attestation::VIRTUAL_MEASUREMENTS.name();
pub const VIRTUAL_HOST_DATA: &str = attestation::VIRTUAL_HOST_DATA.name();
pub const SERVICE_INFO: &str = service::INFO.name();
pub const SERVICE_CONFIG: &str = service::CONFIG.name();
pub const JWT_ISSUERS: &str = jwt::ISSUERS.name();
pub const JWT_KEYS: &str = jwt::PUBLIC_SIGNING_KEYS.name();
pub const CONSTITUTION: &str = gov::CONSTITUTION.name();
pub const PROPOSALS: &str = gov::PROPOSALS.name();
pub const PROPOSALS_INFO: &str = gov::PROPOSALS_INFO.name();
/// Signed governance requests already seen (replay protection), by signature digest.
pub const COSE_RECENT: &str = gov::COSE_RECENT.name();
/// Each member's latest signed governance request (the ledger keeps every one).
pub const HISTORY: &str = gov::HISTORY.name();
/// Key of single-value tables.
pub const SINGLETON: [u8; 8] = consort_kv::typed::SINGLETON_KEY;
