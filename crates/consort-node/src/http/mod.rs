//! HTTPS: our own TLS accept loop (so handlers see client certificates) and hyper.

pub mod server;
pub mod tls;
mod ws;
