//! Integration tests of the node crate, in one test binary.

mod fatal_storage;
mod server_limits;
