//! The service schema: every table of a Consort service, declared once as a typed
//! [`Map`](consort_kv::typed::Map) or [`Value`](consort_kv::typed::Value) next to its
//! record type, with CCF's names (after CCF's `include/ccf/service/tables/*.h`). The same
//! handle reads a transaction or a snapshot:
//!
//! ```
//! # let store = consort_kv::Store::new();
//! use consort_service::nodes;
//! let info = nodes::INFO.get(&mut store.snapshot(), &"n1".to_string()).unwrap();
//! assert!(info.is_none());
//! ```
//!
//! - [`nodes`]: node records and endorsed certificates.
//! - [`attestation`]: the join policy (allowed measurements, host data, minimum TCB).
//! - [`identities`]: members and users.
//! - [`service`]: the service record and its configuration.
//! - [`jwt`]: trusted JWT issuers and their signing keys.
//! - [`gov`]: the constitution, proposals, node code ids, signed-request history.
//! - [`internal`]: signatures, ledger-secret rotation, snapshot evidence, the Merkle frontier.
//! - [`recovery`]: recovery shares, the previous-secrets chain, submitted shares, the
//!   previous service identity.
//! - [`genesis`]: the writes that create a service and register identities.
//!
//! Applications declare their own tables in their crates; governance names no app.

pub mod attestation;
mod error;
pub mod genesis;
pub mod gov;
pub mod identities;
pub mod internal;
pub mod jwt;
pub mod nodes;
pub mod recovery;
pub mod service;

pub use consort_kv::typed::SINGLETON_KEY;
pub use error::ServiceError;
