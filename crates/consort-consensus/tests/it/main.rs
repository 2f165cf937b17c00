//! Integration tests of the consensus crate, in one test binary.

mod simulator;
