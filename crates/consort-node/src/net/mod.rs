//! The node on the network: mutually authenticated node-to-node channels ([`n2n`]) and
//! the networked replica with request forwarding ([`cluster`]).

pub mod cluster;
pub mod n2n;
