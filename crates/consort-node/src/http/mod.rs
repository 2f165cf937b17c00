//! HTTPS: our own TLS accept loop (so handlers see client certificates) and hyper.

mod proto_errors;
pub mod server;
pub mod tls;
mod ws;
