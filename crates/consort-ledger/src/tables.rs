//! The tables the ledger reads and writes itself, from the service schema
//! (`consort-service`, where each is declared once): names as `&str` for the byte-level
//! code here, and their record types.

pub use consort_service::{
    internal::SignatureRecord,
    nodes::{NetInterface, NodeInfo, NodeStatus, QuoteInfo, PRIMARY_RPC_INTERFACE},
    service::{ServiceInfo, ServiceStatus},
    SINGLETON_KEY,
};

/// Signature transactions ([`consort_service::internal::SIGNATURES`]).
pub const SIGNATURES: &str = consort_service::internal::SIGNATURES.name();
/// Node records ([`consort_service::nodes::INFO`]).
pub const NODES_INFO: &str = consort_service::nodes::INFO.name();
/// Endorsed node certificates ([`consort_service::nodes::ENDORSED_CERTIFICATES`]).
pub const ENDORSED_CERTIFICATES: &str = consort_service::nodes::ENDORSED_CERTIFICATES.name();
/// The service record ([`consort_service::service::INFO`]).
pub const SERVICE_INFO: &str = consort_service::service::INFO.name();
/// Snapshot evidence ([`consort_service::internal::SNAPSHOT_EVIDENCE`]).
pub const SNAPSHOT_EVIDENCE: &str = consort_service::internal::SNAPSHOT_EVIDENCE.name();
/// The Merkle frontier, carried only inside snapshot files
/// ([`consort_service::internal::TREE`]).
pub const TREE_TABLE: &str = consort_service::internal::TREE.name();
