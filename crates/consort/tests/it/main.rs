//! Integration and end-to-end tests of the `consort` binary and its crates, in one test
//! binary: each file is a module, and `common` holds the helpers they share (the `ccf`
//! Python, `consort sandbox` processes, multi-process networks, workloads, the
//! linearizability checker, Ethereum helpers).

mod common;

mod attest_vectors;
mod attestation;
mod bench_cli;
mod catch_up;
mod ccf_compat;
mod crash_restart;
mod eth_clients;
mod eth_history;
mod eth_privacy;
mod eth_rpc;
mod eth_tools;
mod governance;
mod hostile_http;
mod jwt_auth;
mod ledger_cli;
mod linearizability_checker;
mod node_api;
mod node_e2e;
mod node_files;
mod recovery;
mod replication;
