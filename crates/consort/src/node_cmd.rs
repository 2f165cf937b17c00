//! `consort node start --config <file>`, `consort node recover --config <file>`.

#![allow(clippy::print_stdout)]

use std::{path::PathBuf, process::ExitCode};

use anyhow::{Context, Result};
use clap::Subcommand;
use consort_endpoints::Registry;
use consort_node::{fatal::FATAL_EXIT_CODE, http::server, NodeConfig, NodeState};

#[derive(Debug, Subcommand)]
pub(crate) enum NodeCmd {
    /// Start a node: create a new service if its ledger directory is empty, otherwise restart
    /// from the ledger. Stops cleanly on Ctrl-C or SIGTERM.
    Start {
        /// Node configuration (JSON, or TOML if the name ends in .toml).
        #[arg(long)]
        config: PathBuf,
    },
    /// Recover a lost service (CCF's `Recover` start) from a copy of its ledger in the
    /// configuration's ledger directory (its latest committed snapshot may be in the
    /// snapshot directory): replays and verifies the public ledger, starts a new service
    /// identity in state `Recovering`. Members then open it with
    /// `transition_service_to_open` and submit their recovery shares. Restart the node later
    /// with `node start`.
    Recover {
        /// Node configuration (JSON, or TOML if the name ends in .toml).
        #[arg(long)]
        config: PathBuf,
    },
}

/// The logging app and the applications the configuration names (the node adds its own
/// frontends).
fn registry_for(cfg: &NodeConfig) -> Result<Registry> {
    let mut r = Registry::new();
    consort_app_logging::register(&mut r);
    for (name, settings) in &cfg.apps {
        match name.as_str() {
            "ethereum" => {
                let ec: consort_evm::EthConfig = serde_json::from_value(settings.clone())
                    .with_context(|| "apps.ethereum".to_string())?;
                consort_evm::register(&mut r, &ec);
            }
            other => anyhow::bail!("unknown application {other:?} in apps (known: ethereum)"),
        }
    }
    Ok(r)
}

/// A panic means this node's state can no longer be trusted (it may have happened
/// half-way through a commit, and it poisons the locks that keep store, ledger and tree in
/// step): log it in one line and stop; a restart recovers from the ledger.
fn stop_on_panic() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        tracing::error!("FATAL: {info}; the node stops (restarting recovers from the ledger)");
        std::process::exit(FATAL_EXIT_CODE);
    }));
}

pub(crate) fn run(cmd: NodeCmd) -> Result<ExitCode> {
    let (config, recover) = match cmd {
        NodeCmd::Start { config } => (config, false),
        NodeCmd::Recover { config } => (config, true),
    };
    stop_on_panic();
    let mut cfg = NodeConfig::load(&config)?;
    cfg.recover = recover;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("consort-node")
        .build()?;
    rt.block_on(async move {
        // Fail early if the port is taken; listen once the node is part of the service (a
        // joining node may wait to be trusted: it must not accept connections it cannot
        // serve).
        let rpc = cfg.rpc_address;
        drop(std::net::TcpListener::bind(rpc).with_context(|| format!("cannot listen on {rpc}"))?);
        let registry = registry_for(&cfg)?;
        let state = tokio::task::spawn_blocking(move || NodeState::start(cfg, registry)).await??;
        let listener = tokio::net::TcpListener::bind(rpc)
            .await
            .with_context(|| format!("cannot listen on {rpc}"))?;
        let addr = listener.local_addr()?;
        println!("node {} listening on https://{addr}", state.node_id());
        println!(
            "service certificate: {}",
            state.config().data_dir.join("service_cert.pem").display()
        );
        println!("last committed: {}", state.committed());
        let s = state.clone();
        server::serve(s, listener, crate::signals::shutdown()).await?;
        tokio::task::spawn_blocking(move || state.shutdown()).await?;
        println!("node stopped");
        Ok(ExitCode::SUCCESS)
    })
}
