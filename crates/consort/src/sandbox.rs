//! `consort sandbox`: a local service in one command, laid out like CCF's sandbox.

#![allow(clippy::print_stdout)]

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{ExitCode, Stdio},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::json;

use crate::keygen::{make_identity, write_file};

#[derive(Debug, Args)]
pub(crate) struct SandboxArgs {
    /// Working directory: keys, certificates, node data and ledgers (CCF's file names).
    #[arg(long, default_value = "workspace/sandbox")]
    dir: PathBuf,
    /// Port of the first node's HTTPS interface.
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Number of nodes; nodes after the first join it and get the next ports.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// Write a snapshot every this many committed transactions (0: never).
    #[arg(long, default_value_t = 0)]
    snapshot_tx_interval: u64,
    /// Milliseconds between signature transactions (how soon writes become Committed).
    #[arg(long, default_value_t = 1000)]
    signature_ms: u64,
    /// Run the Ethereum application (web3 JSON-RPC at /app/eth) with 10 funded development
    /// accounts, whose keys go to eth_accounts.json (public test keys: local use only).
    #[arg(long)]
    eth: bool,
    /// Chain id of the Ethereum application (with --eth).
    #[arg(long, default_value_t = 1337)]
    chain_id: u64,
    /// Privacy default of the Ethereum application (with --eth): `private` (each party
    /// sees its own transactions and accounts) or `public` (everyone sees everything).
    #[arg(long, default_value = "private", value_parser = ["private", "public"])]
    eth_privacy: String,
}

fn step(n: usize, total: usize, msg: impl std::fmt::Display) {
    println!("[{n}/{total}] {msg}");
}

pub(crate) fn log_tail(path: &Path) -> String {
    std::fs::read_to_string(path)
        .map(|s| {
            s.lines()
                .rev()
                .take(15)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// A free TCP port on the loopback interface for a node to listen on, below the kernel's
/// ephemeral range: a port the kernel handed out (bind to port 0) could be taken as the
/// local end of some outgoing connection before the node binds it, and the node would then
/// fail to start. Never the same port twice in one process.
pub(crate) fn free_port() -> Result<u16> {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (lo, hi) = (10_000u16, ephemeral_start.max(10_001));
    let mut seed = [0u8; 2];
    consort_crypto::random_bytes(&mut seed)?;
    let span = u32::from(hi - lo);
    let mut given = GIVEN.lock().expect("port allocation lock poisoned");
    for i in 0..span {
        let port = lo + ((u32::from(u16::from_le_bytes(seed)) + i * 7919) % span) as u16;
        if given.contains(&port) {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.push(port);
            return Ok(port);
        }
    }
    // Every low port taken: fall back to one the kernel picks.
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

struct SandboxNode {
    name: String,
    addr: SocketAddr,
    log: PathBuf,
    child: std::process::Child,
}

fn start_node(dir: &Path, name: &str, config: &serde_json::Value) -> Result<SandboxNode> {
    let node_dir = dir.join(name);
    std::fs::create_dir_all(&node_dir)?;
    let config_path = node_dir.join("config.json");
    write_file(&config_path, &serde_json::to_string_pretty(config)?, false)?;
    let log = node_dir.join("out.log");
    let f = std::fs::File::create(&log)?;
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    // Nodes stop with the sandbox, however it ends.
    crate::signals::stop_with_parent(&mut cmd);
    let child = cmd
        .args(["node", "start", "--config"])
        .arg(&config_path)
        .stdout(Stdio::from(f.try_clone()?))
        .stderr(Stdio::from(f))
        .spawn()
        .with_context(|| format!("cannot start {name}"))?;
    Ok(SandboxNode {
        name: name.to_string(),
        addr: config["rpc_address"].as_str().unwrap_or_default().parse()?,
        log,
        child,
    })
}

fn stop_all(nodes: &mut [SandboxNode]) {
    for n in nodes.iter() {
        crate::signals::terminate(n.child.id());
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for n in nodes.iter_mut() {
        while matches!(n.child.try_wait(), Ok(None)) {
            if Instant::now() > deadline {
                let _ = n.child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = n.child.wait();
    }
}

async fn activate_member0(
    dir: &Path,
    addr: SocketAddr,
    service: &consort_crypto::cert::Certificate,
    bind_eth: bool,
) -> Result<()> {
    let cert = consort_crypto::cert::Certificate::from_pem(&std::fs::read_to_string(
        dir.join("member0_cert.pem"),
    )?)?;
    let key = consort_crypto::keys::SigningKey::from_pem(&std::fs::read_to_string(
        dir.join("member0_privk.pem"),
    )?)?;
    let gov = consort_client::gov::Gov {
        client: consort_client::ClientConfig::new(addr, service, Some((&cert, &key)))?,
        member: consort_client::gov::Member { cert, key },
    };
    let r = gov.activate().await?;
    if r.status != 204 {
        bail!("HTTP {}: {}", r.status, String::from_utf8_lossy(&r.body));
    }
    if bind_eth {
        setup_eth(dir, &gov).await?;
    }
    Ok(())
}

/// The Ethereum app's setup through governance, as an operator would do it: one proposal,
/// accepted by member0's vote, that binds the development accounts to user0, trusts a
/// development JWT issuer (its key in `jwt_issuer_privk.pem`) and makes its tokens for
/// `user0` act as user0, so that tools that only send a bearer token see what user0 sees;
/// then user0's token, owner-only, in `user0.jwt`.
async fn setup_eth(dir: &Path, gov: &consort_client::gov::Gov) -> Result<()> {
    let user0 = consort_crypto::cert::Certificate::from_pem(&std::fs::read_to_string(
        dir.join("user0_cert.pem"),
    )?)?;
    let user_id = user0.fingerprint().to_hex();
    let issuer = crate::token_cmd::issuer_key(&dir.join("jwt_issuer_privk.pem"))?;
    let mut actions: Vec<_> = consort_evm::dev_accounts(10)
        .iter()
        .map(|(_, a)| json!({"name": "set_eth_address_binding", "args": {"address": format!("{a:#x}"), "user_id": user_id}}))
        .collect();
    actions.push(crate::token_cmd::set_issuer_action(
        &issuer,
        crate::token_cmd::DEV_ISSUER,
    ));
    actions.push(json!({"name": "set_eth_jwt_user", "args": {
        "jwt_issuer": crate::token_cmd::DEV_ISSUER, "jwt_subject": "user0", "user_id": user_id,
    }}));
    let r = gov
        .propose(&json!({ "actions": actions }).to_string())
        .await?;
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
    let Some(id) = body["proposalId"].as_str() else {
        bail!("binding proposal refused: HTTP {}: {body}", r.status);
    };
    let r = gov.vote(id, true).await?;
    let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
    if body["proposalState"] != "Accepted" {
        bail!("binding proposal not accepted: HTTP {}: {body}", r.status);
    }
    let token = crate::token_cmd::mint(&issuer, crate::token_cmd::DEV_ISSUER, "user0", TOKEN_TTL)?;
    crate::keygen::write_file(&dir.join("user0.jwt"), &token, true)?;
    Ok(())
}

/// How long the sandbox's token for user0 lasts (`consort token mint` makes another).
const TOKEN_TTL: u64 = 7 * 86_400;

pub(crate) fn run(args: SandboxArgs) -> Result<ExitCode> {
    if args.nodes == 0 || args.nodes > 9 {
        bail!("--nodes {}: between 1 and 9", args.nodes);
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let dir = args.dir.canonicalize()?;
    make_identity(&dir, "member0", true)?;
    make_identity(&dir, "user0", false)?;
    step(
        1,
        STEPS,
        format!("member0 and user0 identities in {}", dir.display()),
    );
    let configs = node_configs(&args, &dir)?;
    step(
        2,
        STEPS,
        format!(
            "{} node configuration(s): {}",
            args.nodes,
            (0..args.nodes)
                .map(|i| dir
                    .join(format!("node{i}/config.json"))
                    .display()
                    .to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .build()?;
    // From here a SIGTERM or Ctrl-C waits until the nodes are stopped in order.
    let mut shutdown = {
        let _rt = rt.enter();
        crate::signals::Shutdown::install()
    };
    let mut nodes = start_nodes(&rt, &dir, &configs, args.eth)?;
    print_ready(&args, &dir, &nodes);
    if rt.block_on(until_shutdown_or_all_gone(&mut shutdown, &mut nodes)) {
        return Ok(ExitCode::FAILURE);
    }
    println!("stopping");
    stop_all(&mut nodes);
    println!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Steps `run` reports.
const STEPS: usize = 4;

/// The configuration of each node: the first starts the service (with member0, user0),
/// the others join it with a token only these configurations know. With `--eth`, the
/// development accounts' keys go to `eth_accounts.json` and each is funded at genesis.
fn node_configs(args: &SandboxArgs, dir: &Path) -> Result<Vec<serde_json::Value>> {
    let mut token = [0u8; 16];
    consort_crypto::random_bytes(&mut token)?;
    let token = hex::encode(token);
    let dev_accounts = consort_evm::dev_accounts(10);
    if args.eth {
        let list: Vec<_> = dev_accounts
            .iter()
            .map(|(k, a)| json!({"address": a.to_checksum(None), "private_key": k.to_string()}))
            .collect();
        write_file(
            &dir.join("eth_accounts.json"),
            &serde_json::to_string_pretty(&list)?,
            true,
        )?;
    }
    let mut configs = Vec::new();
    for i in 0..args.nodes {
        let addr: SocketAddr = format!("127.0.0.1:{}", args.port + i as u16).parse()?;
        let mut config = json!({
            "rpc_address": addr.to_string(),
            "node_to_node_address": format!("127.0.0.1:{}", free_port()?),
            "data_dir": ".",
            "ledger_dir": "ledger",
            "signature_ms_interval": args.signature_ms,
            "auto_trust_joiners": true,
            "join_token": token,
        });
        if args.eth {
            // 1000 ether each.
            let genesis: serde_json::Map<String, serde_json::Value> = dev_accounts
                .iter()
                .map(|(_, a)| (a.to_string(), json!("0x3635c9adc5dea00000")))
                .collect();
            config["apps"] = json!({"ethereum": {"chain_id": args.chain_id, "genesis": genesis, "privacy_default": args.eth_privacy}});
        }
        if i == 0 {
            config["members"] = json!([{"certificate_file": "../member0_cert.pem", "encryption_public_key_file": "../member0_enc_pubk.pem"}]);
            config["users"] = json!([{"certificate_file": "../user0_cert.pem"}]);
            config["snapshot_tx_interval"] = json!(args.snapshot_tx_interval);
        } else {
            config["join"] = json!({
                "target_rpc_address": configs.first().map_or(json!(null), |c: &serde_json::Value| c["rpc_address"].clone()),
                "service_certificate_file": "../service_cert.pem",
                "token": token,
            });
            config["snapshot_tx_interval"] = json!(args.snapshot_tx_interval);
        }
        configs.push(config);
    }
    Ok(configs)
}

/// Start the nodes one after the other, each once the previous is open; node0's service
/// certificate is copied to `service_cert.pem` and member0 activated. A node that does not
/// come up stops those started and fails the run with the end of its log.
fn start_nodes(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    configs: &[serde_json::Value],
    bind_eth: bool,
) -> Result<Vec<SandboxNode>> {
    let mut nodes: Vec<SandboxNode> = Vec::new();
    let service_cert = dir.join("service_cert.pem");
    for (i, config) in configs.iter().enumerate() {
        let name = format!("node{i}");
        let mut node = start_node(dir, &name, config)?;
        // node0 writes the service certificate; joiners are given it.
        let cert_file = if i == 0 {
            dir.join("node0/service_cert.pem")
        } else {
            service_cert.clone()
        };
        let ready = rt.block_on(consort_client::wait_until_open(
            node.addr,
            &cert_file,
            Duration::from_secs(60),
            || matches!(node.child.try_wait(), Ok(None)),
        ));
        match ready {
            Ok(cert) if i == 0 => {
                write_file(&service_cert, &cert.to_pem(), false)?;
                // member0 acknowledges the service state and becomes Active, so it can
                // propose and vote at once.
                if let Err(e) = rt.block_on(activate_member0(dir, node.addr, &cert, bind_eth)) {
                    nodes.push(node);
                    stop_all(&mut nodes);
                    bail!("cannot activate member0: {e}");
                }
            }
            Ok(_) => {}
            Err(e) => {
                let tail = log_tail(&node.log);
                nodes.push(node);
                stop_all(&mut nodes);
                bail!("{name} did not come up: {e}\n{tail}");
            }
        }
        nodes.push(node);
    }
    Ok(nodes)
}

/// Steps 3 and 4: where the nodes, their logs, the keys and the ledger are, and how to
/// try the service; then `ready`.
fn print_ready(args: &SandboxArgs, dir: &Path, nodes: &[SandboxNode]) {
    step(
        3,
        STEPS,
        format!(
            "{} node(s) running (logs: {})",
            nodes.len(),
            nodes
                .iter()
                .map(|n| n.log.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    let url = format!("https://{}", nodes[0].addr);
    let d = dir.display();
    step(4, STEPS, format!("service open at {url}"));
    for n in nodes {
        println!("  {}: https://{}", n.name, n.addr);
    }
    println!(
        "  service certificate: {}",
        dir.join("service_cert.pem").display()
    );
    println!("  user0:   {d}/user0_cert.pem {d}/user0_privk.pem");
    println!("  member0: {d}/member0_cert.pem {d}/member0_privk.pem (recovery key {d}/member0_enc_pubk.pem)");
    println!("  ledger:  {}", dir.join("node0/ledger").display());
    print_attestation();
    println!(
        "  try:     curl --cacert {d}/service_cert.pem --cert {d}/user0_cert.pem --key {d}/user0_privk.pem \
         {url}/app/log/private -H 'content-type: application/json' -d '{{\"id\": 1, \"msg\": \"hello\"}}'"
    );
    if args.eth {
        print_eth(args, &url, &d.to_string());
    }
    println!("ready");
}

/// How to use the Ethereum app, and how a second user gets its own view.
fn print_eth(args: &SandboxArgs, url: &str, d: &str) {
    println!(
        "  ethereum: {url}/app/eth (chain id {}), 10 funded development accounts in {d}/eth_accounts.json, bound to user0 (its certificate required)",
        args.chain_id
    );
    println!(
        "  privacy: {} by default{}; docs/CONFIDENTIALITY.md says who sees what",
        args.eth_privacy,
        if args.eth_privacy == "private" {
            " (a transaction is seen by its parties and auditors; --eth-privacy public: by everyone)"
        } else {
            " (everyone sees everything)"
        }
    );
    print_tools(url, d);
    println!("  a second user, to see two views side by side:");
    println!("    consort keygen user1 --user --dir {d}   # then propose set_user for it (README: governance)");
    println!("    GET  {url}/app/eth/bind/message?address=<its address>&nonce=1   (as user1)");
    println!("    POST {url}/app/eth/bind {{\"address\", \"nonce\": 1, \"signature\": personal_sign(message)}}   (as user1)");
    println!("    then user0 and user1 each ask eth_getBalance / eth_getTransactionReceipt about the other's transactions");
}

/// Ready-to-paste settings for tools that send a bearer token instead of a certificate.
fn print_tools(url: &str, d: &str) {
    let rpc = format!("{url}/app/eth");
    println!(
        "  tools: a development JWT issuer ({}) trusted through governance; user0's token (7 days) in {d}/user0.jwt, acting as user0",
        crate::token_cmd::DEV_ISSUER
    );
    println!("    another: consort token mint --user user0 --issuer-key {d}/jwt_issuer_privk.pem --out {d}/user0.jwt");
    println!("    Foundry: export ETH_RPC_URL={rpc} ETH_RPC_HEADERS=\"Authorization: Bearer $(cat {d}/user0.jwt)\" SSL_CERT_FILE={d}/service_cert.pem");
    println!(
        "             cast block-number; cast balance <address>; cast send --private-key <key> ..."
    );
    println!("             (cast --insecure instead of SSL_CERT_FILE skips checking the node's certificate: anyone on the path could answer)");
    println!("    hardhat: networks: {{ consort: {{ url: \"{rpc}\", httpHeaders: {{ Authorization: \"Bearer <token>\" }} }} }}");
    println!("    viem:    http(\"{rpc}\", {{ fetchOptions: {{ headers: {{ Authorization: `Bearer ${{token}}` }} }} }})");
    println!("    ethers:  const req = new FetchRequest(\"{rpc}\"); req.setHeader(\"Authorization\", `Bearer ${{token}}`); new JsonRpcProvider(req)");
    println!("    node tools trust the service with NODE_EXTRA_CA_CERTS={d}/service_cert.pem");
}

/// The measurement the service allowed at genesis: the nodes run this binary on the
/// virtual platform, whose measurement is the binary's SHA-256.
fn print_attestation() {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    match consort_attestation::virt::VirtualPlatform::of_this_process(None) {
        Ok(p) => println!(
            "  attestation: virtual platform (insecure: proves nothing); allowed measurement {} (SHA-256 of {exe}) in public:ccf.gov.nodes.virtual.measurements",
            p.measurement()
        ),
        Err(e) => println!("  attestation: virtual platform (insecure); measurement unknown: {e}"),
    }
}

/// Serve until Ctrl-C / SIGTERM (false) or until every node has exited (true). A node that
/// dies is reported; the others keep serving (a network tolerates a minority of failures).
async fn until_shutdown_or_all_gone(
    shutdown: &mut crate::signals::Shutdown,
    nodes: &mut [SandboxNode],
) -> bool {
    let mut reported = vec![false; nodes.len()];
    tokio::select! {
        _ = shutdown.recv() => false,
        _ = async {
            loop {
                for (i, n) in nodes.iter_mut().enumerate() {
                    if !reported[i] && matches!(n.child.try_wait(), Ok(Some(_))) {
                        reported[i] = true;
                        println!("{} exited:\n{}", n.name, log_tail(&n.log));
                    }
                }
                if reported.iter().all(|r| *r) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        } => true,
    }
}
