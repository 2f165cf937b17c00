//! A Consort node: the HTTPS service around the journal.
//!
//! - [`config`]: node configuration (JSON or TOML).
//! - [`node`]: lifecycle — create a service or restart from the ledger; sealed secrets;
//!   background signatures.
//! - [`server`] / [`tls`]: our own TLS accept loop (rustls, aws-lc-rs) and hyper.
//! - [`framework`]: endpoints, authentication policies, commit and retry, OpenAPI.
//! - [`builtin`]: `/node/*`, `/app/receipt`, `/…/api`.
//! - [`apps::logging`]: CCF's logging sample.

pub mod api;
pub mod apps;
pub mod auth;
pub mod builtin;
pub mod cluster;
pub mod config;
mod error;
mod files;
pub mod framework;
pub mod gov;
pub mod gov_tables;
pub mod join;
pub mod metrics;
pub mod n2n;
pub mod node;
pub mod replica;
#[cfg(any(test, feature = "test-utils"))]
pub mod replica_sim;
pub mod seal;
pub mod server;
pub mod tls;

pub use config::NodeConfig;
pub use error::NodeError;
pub use node::NodeState;

/// The standard registry: built-in endpoints and the logging app.
pub fn default_registry() -> framework::Registry {
    let mut r = framework::Registry::new();
    builtin::register(&mut r);
    join::register(&mut r);
    gov::register(&mut r);
    apps::logging::register(&mut r);
    r
}
