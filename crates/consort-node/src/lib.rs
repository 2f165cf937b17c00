//! A Consort node: the HTTPS service around the journal, as a replica of the service's
//! network.
//!
//! - [`lifecycle`]: create a service, restart from the ledger, or join (the joining side);
//!   configuration, sealed secrets.
//! - [`replica`]: the consensus engine driving the journal (sans-IO).
//! - [`net`]: node-to-node channels, the networked replica, forwarding.
//! - [`http`]: our own TLS accept loop (rustls, aws-lc-rs) and hyper.
//! - [`frontends`]: the node's own endpoints (`/node`, `/gov`, `/node/join`).
//! - [`node`]: [`NodeState`], which composes them and is the endpoint framework's host.
//! - `recovery`: governance's recovery effects, and recovering the private ledger once
//!   members' shares unlock it.
//! - [`fatal`]: errors that stop the node.

mod error;
pub mod fatal;
pub mod frontends;
pub mod http;
mod join_protocol;
pub mod lifecycle;
pub mod metrics;
pub mod net;
pub mod node;
mod recovery;
pub mod replica;

pub use error::NodeError;
pub use lifecycle::config::{self, NodeConfig};
pub use node::NodeState;
