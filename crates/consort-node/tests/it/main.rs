//! Integration tests of the node crate, in one test binary.

mod server_limits;
