//! `consort node start --config <file>`.

#![allow(clippy::print_stdout)]

use std::{path::PathBuf, process::ExitCode};

use anyhow::{Context, Result};
use clap::Subcommand;
use consort_node::{default_registry, server, NodeConfig, NodeState};

#[derive(Debug, Subcommand)]
pub(crate) enum NodeCmd {
    /// Start a node: create a new service if its ledger directory is empty, otherwise restart
    /// from the ledger. Stops cleanly on Ctrl-C or SIGTERM.
    Start {
        /// Node configuration (JSON, or TOML if the name ends in .toml).
        #[arg(long)]
        config: PathBuf,
    },
}

pub(crate) fn run(cmd: NodeCmd) -> Result<ExitCode> {
    let NodeCmd::Start { config } = cmd;
    let cfg = NodeConfig::load(&config)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("consort-node")
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(cfg.rpc_address)
            .await
            .with_context(|| format!("cannot listen on {}", cfg.rpc_address))?;
        let addr = listener.local_addr()?;
        let state = tokio::task::spawn_blocking(move || NodeState::start(cfg, default_registry()))
            .await??;
        println!("node {} listening on https://{addr}", state.node.node_id);
        println!(
            "service certificate: {}",
            state.config.data_dir.join("service_cert.pem").display()
        );
        println!("last committed: {}", state.journal.committed());
        let s = state.clone();
        server::serve(s, listener, crate::signals::shutdown()).await?;
        tokio::task::spawn_blocking(move || state.shutdown()).await?;
        println!("node stopped");
        Ok(ExitCode::SUCCESS)
    })
}
