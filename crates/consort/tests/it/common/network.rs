//! A multi-process network on loopback for end-to-end tests: real `consort node` processes,
//! each behind a TCP proxy on its node-to-node interface so tests can cut links.
//!
//! Node `i` binds its node-to-node interface on `127.0.0.(10+i)` (outbound connections
//! leave from that address too) and publishes the address of its proxy. A proxy knows who
//! is calling from the source address, so a partition is a set of blocked (from, to) pairs:
//! blocked connections are refused and open ones are cut. Client (HTTPS) traffic is never
//! blocked.

use std::{
    collections::HashSet,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    process::{Child, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use consort_client::{ClientConfig, Connection};
use consort_crypto::{cert::Certificate, keys::SigningKey};
use consort_kv::TxId;
use serde_json::{json, Value};

use super::{consort, free_port_on};

/// Blocked directed links between node indices.
pub(crate) type Links = Arc<Mutex<HashSet<(usize, usize)>>>;

fn node_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 10 + i as u8)
}

fn index_of(ip: IpAddr) -> Option<usize> {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            (o[0] == 127 && o[3] >= 10).then(|| (o[3] - 10) as usize)
        }
        IpAddr::V6(_) => None,
    }
}

/// Forward connections to `target` (node `to`'s node-to-node interface), honouring `links`.
async fn proxy(listener: tokio::net::TcpListener, to: usize, target: SocketAddr, links: Links) {
    loop {
        let Ok((inbound, peer)) = listener.accept().await else {
            continue;
        };
        let Some(from) = index_of(peer.ip()) else {
            continue;
        };
        let blocked = {
            let links = links.clone();
            move || links.lock().unwrap().contains(&(from, to))
        };
        if blocked() {
            continue; // dropped: the caller sees the connection close
        }
        tokio::spawn(async move {
            let Ok(outbound) = tokio::net::TcpStream::connect(target).await else {
                return;
            };
            let (mut a, mut b) = (inbound, outbound);
            let copy = tokio::io::copy_bidirectional(&mut a, &mut b);
            let cut = async {
                loop {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    if blocked() {
                        break;
                    }
                }
            };
            tokio::select! {
                _ = copy => {}
                _ = cut => {}
            }
        });
    }
}

/// One node process.
pub(crate) struct NodeProc {
    pub(crate) name: String,
    pub(crate) rpc: SocketAddr,
    pub(crate) dir: PathBuf,
    pub(crate) config: PathBuf,
    pub(crate) child: Option<Child>,
    /// The binary it runs (default: the `consort` under test).
    pub(crate) binary: Option<PathBuf>,
}

impl NodeProc {
    pub(crate) fn ledger(&self) -> PathBuf {
        self.dir.join("ledger")
    }
    pub(crate) fn snapshots(&self) -> PathBuf {
        self.dir.join("snapshots")
    }
    pub(crate) fn log_tail(&self) -> String {
        let s = std::fs::read_to_string(self.dir.join("out.log")).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

/// Settings for every node of a test network.
#[derive(Clone, Debug)]
pub(crate) struct NetOptions {
    pub(crate) election_timeout_ms: u64,
    pub(crate) signature_ms: u64,
    pub(crate) chunk_bytes: u64,
    pub(crate) snapshot_tx_interval: u64,
    /// Trust joining nodes that present the join token (otherwise governance must).
    pub(crate) auto_trust: bool,
    /// The nodes' `apps` configuration (null: none besides the built-in ones).
    pub(crate) apps: Value,
    /// Members with recovery encryption keys (0: member0 alone, without one); their keys
    /// are made by CCF's own `keygenerator.sh --gen-enc-key`.
    pub(crate) recovery_members: usize,
    pub(crate) recovery_threshold: Option<u64>,
}

impl Default for NetOptions {
    fn default() -> Self {
        Self {
            election_timeout_ms: 400,
            signature_ms: 20,
            chunk_bytes: 16 * 1024,
            snapshot_tx_interval: 0,
            auto_trust: true,
            apps: Value::Null,
            recovery_members: 0,
            recovery_threshold: None,
        }
    }
}

/// A network of node processes.
pub(crate) struct Network {
    pub(crate) dir: PathBuf,
    _tmp: tempfile::TempDir,
    pub(crate) nodes: Vec<NodeProc>,
    pub(crate) service_cert: Certificate,
    pub(crate) user: (Certificate, SigningKey),
    /// member0, a member of the service from its creation.
    pub(crate) member: (Certificate, SigningKey),
    /// Every member (member0 first), with `member{i}_*.pem` files in `dir`.
    pub(crate) members: Vec<(Certificate, SigningKey)>,
    pub(crate) links: Links,
    opts: NetOptions,
    token: String,
    /// The node joiners join (node 0, or the recovery node of a recovered service).
    join_target: usize,
}

impl Network {
    /// Start `n` nodes: node 0 creates the service, the others join it.
    pub(crate) async fn start(n: usize, opts: NetOptions) -> Network {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let key = SigningKey::generate().unwrap();
        let cert = consort_crypto::cert::self_signed_leaf(&key, "user0", 30).unwrap();
        std::fs::write(dir.join("user0_cert.pem"), cert.to_pem()).unwrap();
        std::fs::write(dir.join("user0_privk.pem"), key.to_pem()).unwrap();
        let members = if opts.recovery_members == 0 {
            let mkey = SigningKey::generate().unwrap();
            let mcert = consort_crypto::cert::self_signed_leaf(&mkey, "member0", 30).unwrap();
            std::fs::write(dir.join("member0_cert.pem"), mcert.to_pem()).unwrap();
            std::fs::write(dir.join("member0_privk.pem"), mkey.to_pem()).unwrap();
            vec![(mcert, mkey)]
        } else {
            (0..opts.recovery_members)
                .map(|i| ccf_member(&dir, i))
                .collect()
        };
        let (mcert, mkey) = &members[0];
        let member = (
            mcert.clone(),
            SigningKey::from_pkcs8_der(mkey.pkcs8_der()).unwrap(),
        );
        let mut net = Network {
            dir,
            _tmp: tmp,
            nodes: Vec::new(),
            service_cert: cert.clone(), // replaced once node 0 is up
            user: (cert, key),
            member,
            members,
            links: Arc::default(),
            opts,
            token: "test-join-token".into(),
            join_target: 0,
        };
        for _ in 0..n {
            net.add_node(true).await;
        }
        net
    }

    /// Start one more node (joining node 0's service unless it is the first) and wait
    /// until it serves.
    pub(crate) async fn add_node(&mut self, fetch_snapshot: bool) -> usize {
        let i = self.add_node_pending(fetch_snapshot).await;
        let cert = self.wait_up(i).await;
        if i == 0 {
            std::fs::write(self.dir.join("service_cert.pem"), cert.to_pem()).unwrap();
            self.service_cert = cert;
        }
        i
    }

    /// Addresses for node `i` (its node-to-node interface behind a proxy) and the settings
    /// every node shares.
    async fn listen(&self, i: usize) -> (SocketAddr, Value) {
        let rpc: SocketAddr = format!("127.0.0.1:{}", free_port_on(Ipv4Addr::LOCALHOST))
            .parse()
            .unwrap();
        let bind = SocketAddr::new(node_ip(i).into(), free_port_on(node_ip(i)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let published = listener.local_addr().unwrap();
        tokio::spawn(proxy(listener, i, bind, self.links.clone()));
        let config = json!({
            "rpc_address": rpc.to_string(),
            "node_to_node_address": bind.to_string(),
            "node_to_node_published_address": published.to_string(),
            "data_dir": ".",
            "election_timeout_ms": self.opts.election_timeout_ms,
            "heartbeat_ms": (self.opts.election_timeout_ms / 8).max(10),
            "signature_ms_interval": self.opts.signature_ms,
            "signature_tx_interval": 500,
            "ledger_chunk_bytes": self.opts.chunk_bytes,
            "snapshot_tx_interval": self.opts.snapshot_tx_interval,
            "auto_trust_joiners": self.opts.auto_trust,
            "join_token": self.token,
        });
        (rpc, config)
    }

    /// Start one more node without waiting for it (a joiner may wait to be trusted).
    pub(crate) async fn add_node_pending(&mut self, fetch_snapshot: bool) -> usize {
        self.add_node_running(None, fetch_snapshot).await
    }

    /// Start one more node running `binary` (default: the `consort` under test), without
    /// waiting for it.
    pub(crate) async fn add_node_running(
        &mut self,
        binary: Option<PathBuf>,
        fetch_snapshot: bool,
    ) -> usize {
        let i = self.nodes.len();
        let name = format!("node{i}");
        let node_dir = self.dir.join(&name);
        std::fs::create_dir_all(&node_dir).unwrap();
        let (rpc, mut config) = self.listen(i).await;
        if !self.opts.apps.is_null() {
            config["apps"] = self.opts.apps.clone();
        }
        if i == 0 {
            config["users"] = json!([{"certificate_file": "../user0_cert.pem"}]);
            config["members"] = if self.opts.recovery_members == 0 {
                json!([{"certificate_file": "../member0_cert.pem"}])
            } else {
                (0..self.opts.recovery_members)
                    .map(|m| {
                        json!({
                            "certificate_file": format!("../member{m}_cert.pem"),
                            "encryption_public_key_file": format!("../member{m}_enc_pubk.pem"),
                        })
                    })
                    .collect()
            };
            if let Some(t) = self.opts.recovery_threshold {
                config["recovery_threshold"] = json!(t);
            }
        } else {
            config["join"] = json!({
                "target_rpc_address": self.nodes[self.join_target].rpc.to_string(),
                "service_certificate_file": "../service_cert.pem",
                "token": self.token,
                "fetch_snapshot": fetch_snapshot,
            });
        }
        let config_path = node_dir.join("config.json");
        std::fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        self.nodes.push(NodeProc {
            name,
            rpc,
            dir: node_dir,
            config: config_path,
            child: None,
            binary,
        });
        self.spawn(i);
        i
    }

    /// Wait until node `i`'s process exits (it must, within `timeout`): its exit status.
    pub(crate) async fn wait_exit(
        &mut self,
        i: usize,
        timeout: Duration,
    ) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let child = self.nodes[i].child.as_mut().expect("node running");
            if let Some(status) = child.try_wait().unwrap() {
                self.nodes[i].child = None;
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "node {i} still runs:\n{}",
                self.nodes[i].log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Start node `i`'s process without waiting for it.
    pub(crate) fn spawn(&mut self, i: usize) {
        self.spawn_cmd(i, "start");
    }

    fn spawn_cmd(&mut self, i: usize, cmd: &str) {
        let n = &mut self.nodes[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(n.dir.join("out.log"))
            .unwrap();
        let mut command = match &n.binary {
            Some(b) => std::process::Command::new(b),
            None => consort(),
        };
        let child = command
            .args(["node", cmd, "--config"])
            .arg(&n.config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        n.child = Some(child);
    }

    pub(crate) async fn wait_up(&mut self, i: usize) -> Certificate {
        let cert_file = if i == 0 {
            self.nodes[0].dir.join("service_cert.pem")
        } else {
            self.dir.join("service_cert.pem")
        };
        let rpc = self.nodes[i].rpc;
        let child = self.nodes[i].child.as_mut().unwrap();
        let r = consort_client::wait_until_open(rpc, &cert_file, Duration::from_secs(60), || {
            matches!(child.try_wait(), Ok(None))
        })
        .await;
        r.unwrap_or_else(|e| {
            panic!(
                "{} did not come up: {e}\n{}",
                self.nodes[i].name,
                self.nodes[i].log_tail()
            )
        })
    }

    /// Disaster recovery: a new node recovers the service from a copy of node `from`'s
    /// ledger directory (CCF's `Recover` start). Waits until it serves, `Recovering`; the
    /// new service certificate becomes the network's, and later joiners join this node.
    pub(crate) async fn recover_from(&mut self, from: usize, with_snapshot: bool) -> usize {
        let i = self.nodes.len();
        let name = format!("node{i}");
        let node_dir = self.dir.join(&name);
        std::fs::create_dir_all(node_dir.join("ledger")).unwrap();
        for e in std::fs::read_dir(self.nodes[from].ledger()).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), node_dir.join("ledger").join(e.file_name())).unwrap();
        }
        if with_snapshot {
            // Its latest committed snapshot only.
            let (name, _) =
                consort_node::lifecycle::snapshots::latest_snapshot(&self.nodes[from].snapshots())
                    .expect("node has a committed snapshot");
            std::fs::create_dir_all(node_dir.join("snapshots")).unwrap();
            std::fs::copy(
                self.nodes[from].snapshots().join(&name),
                node_dir.join("snapshots").join(&name),
            )
            .unwrap();
        }
        let (rpc, mut config) = self.listen(i).await;
        config["previous_service_identity_file"] = json!("../service_cert.pem");
        let config_path = node_dir.join("config.json");
        std::fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        self.nodes.push(NodeProc {
            name,
            rpc,
            dir: node_dir.clone(),
            config: config_path,
            child: None,
            binary: None,
        });
        self.spawn_cmd(i, "recover");
        let child = self.nodes[i].child.as_mut().unwrap();
        let cert = consort_client::wait_until_status(
            rpc,
            &node_dir.join("service_cert.pem"),
            Duration::from_secs(120),
            &["Recovering"],
            || matches!(child.try_wait(), Ok(None)),
        )
        .await
        .unwrap_or_else(|e| {
            panic!(
                "recovery node did not come up: {e}\n{}",
                self.nodes[i].log_tail()
            )
        });
        std::fs::write(
            self.dir.join("previous_service_cert.pem"),
            self.service_cert.to_pem(),
        )
        .unwrap();
        std::fs::write(self.dir.join("service_cert.pem"), cert.to_pem()).unwrap();
        self.service_cert = cert;
        self.join_target = i;
        i
    }

    /// Start a joiner (to the current join target) and wait until it serves the service in
    /// any of `statuses`.
    pub(crate) async fn add_node_in(&mut self, statuses: &[&str]) -> usize {
        let i = self.add_node_pending(false).await;
        let rpc = self.nodes[i].rpc;
        let file = self.dir.join("service_cert.pem");
        let child = self.nodes[i].child.as_mut().unwrap();
        consort_client::wait_until_status(rpc, &file, Duration::from_secs(120), statuses, || {
            matches!(child.try_wait(), Ok(None))
        })
        .await
        .unwrap_or_else(|e| panic!("joiner did not come up: {e}\n{}", self.nodes[i].log_tail()));
        i
    }

    /// kill -9.
    pub(crate) fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait (a clean stop).
    pub(crate) fn stop(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
            let _ = c.wait();
        }
    }

    pub(crate) fn stop_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.stop(i);
        }
    }

    /// Start a stopped node again from its data directory.
    pub(crate) async fn restart(&mut self, i: usize) {
        assert!(self.nodes[i].child.is_none(), "node {i} is running");
        self.spawn(i);
        self.wait_up(i).await;
    }

    pub(crate) fn is_running(&self, i: usize) -> bool {
        self.nodes[i].child.is_some()
    }

    /// Cut every link between `group` and the other nodes, both ways.
    pub(crate) fn partition(&self, group: &[usize]) {
        let mut l = self.links.lock().unwrap();
        for a in 0..self.nodes.len() {
            for b in 0..self.nodes.len() {
                if group.contains(&a) != group.contains(&b) {
                    l.insert((a, b));
                }
            }
        }
    }

    pub(crate) fn heal(&self) {
        self.links.lock().unwrap().clear();
    }

    /// A governance client for node `i` as member0.
    pub(crate) fn gov(&self, i: usize) -> consort_client::gov::Gov {
        self.gov_as(i, self.member.0.clone(), &self.member.1)
    }

    /// A governance client for node `i` as the member with `cert` and `key`.
    pub(crate) fn gov_as(
        &self,
        i: usize,
        cert: Certificate,
        key: &SigningKey,
    ) -> consort_client::gov::Gov {
        let key = SigningKey::from_pkcs8_der(key.pkcs8_der()).unwrap();
        consort_client::gov::Gov {
            client: ClientConfig::new(self.nodes[i].rpc, &self.service_cert, Some((&cert, &key)))
                .unwrap(),
            member: consort_client::gov::Member { cert, key },
        }
    }

    /// A client for node `i` with user0's identity.
    pub(crate) fn client(&self, i: usize) -> ClientConfig {
        ClientConfig::new(
            self.nodes[i].rpc,
            &self.service_cert,
            Some((&self.user.0, &self.user.1)),
        )
        .unwrap()
    }

    pub(crate) async fn get_json(&self, i: usize, path: &str) -> Option<Value> {
        let mut c = tokio::time::timeout(Duration::from_secs(2), self.client(i).connect())
            .await
            .ok()?
            .ok()?;
        let r = tokio::time::timeout(Duration::from_secs(5), c.get(path))
            .await
            .ok()?
            .ok()?;
        (r.status == 200).then(|| r.json().ok()).flatten()
    }

    /// This node's consensus details.
    pub(crate) async fn consensus(&self, i: usize) -> Option<Value> {
        Some(self.get_json(i, "/node/consensus").await?["details"].clone())
    }

    /// The node (index) that is primary in the highest view a running node knows of, if
    /// that node itself says it leads.
    pub(crate) async fn primary(&self) -> Option<usize> {
        let mut best: Option<(u64, usize)> = None;
        for i in 0..self.nodes.len() {
            if !self.is_running(i) {
                continue;
            }
            if let Some(d) = self.consensus(i).await {
                if d["leadership_state"] == "Leader" {
                    let v = d["current_view"].as_u64().unwrap_or(0);
                    if best.is_none_or(|(bv, _)| v > bv) {
                        best = Some((v, i));
                    }
                }
            }
        }
        best.map(|(_, i)| i)
    }

    /// Wait for a primary among the running nodes, other than `not`.
    pub(crate) async fn wait_primary(&self, not: &[usize], timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(p) = self.primary().await {
                if !not.contains(&p) {
                    return p;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no new primary within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) async fn commit(&self, i: usize) -> Option<TxId> {
        self.get_json(i, "/node/commit").await?["transaction_id"]
            .as_str()?
            .parse()
            .ok()
    }

    /// Wait until node `i` has committed at least `seqno`.
    pub(crate) async fn wait_commit(&self, i: usize, seqno: u64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.commit(i).await.is_some_and(|t| t.seqno >= seqno) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not commit {seqno} within {timeout:?} (at {:?})\n{}",
                self.nodes[i].name,
                self.commit(i).await,
                self.nodes[i].log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Status of `txid` according to node `i`.
    pub(crate) async fn tx_status(&self, c: &mut Connection, txid: TxId) -> String {
        let r = c
            .get(&format!("/node/tx?transaction_id={txid}"))
            .await
            .unwrap();
        r.json().unwrap()["status"].as_str().unwrap().to_string()
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for n in &self.nodes {
                eprintln!(
                    "---- {} ({}) log tail:\n{}",
                    n.name,
                    n.dir.display(),
                    n.log_tail()
                );
            }
            if std::env::var_os("CONSORT_KEEP_TEST_DIRS").is_some() {
                let tmp = std::mem::replace(&mut self._tmp, tempfile::tempdir().unwrap());
                eprintln!("kept {}", tmp.keep().display());
            }
        }
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// Member `i`'s keys, made by CCF's own `keygenerator.sh --gen-enc-key` (an EC P-384
/// identity and an RSA encryption key pair); the identity key is also converted to
/// PKCS#8 (`member{i}_privk_pk8.pem`) for our client.
fn ccf_member(dir: &Path, i: usize) -> (Certificate, SigningKey) {
    let name = format!("member{i}");
    let bin = super::python().parent().unwrap().join("keygenerator.sh");
    let out = std::process::Command::new("bash")
        .arg(&bin)
        .args(["--name", &name, "--gen-enc-key"])
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    assert!(out.status.success(), "keygenerator.sh: {out:?}");
    let pk8 = dir.join(format!("{name}_privk_pk8.pem"));
    let out = std::process::Command::new("openssl")
        .args(["pkcs8", "-topk8", "-nocrypt", "-in"])
        .arg(dir.join(format!("{name}_privk.pem")))
        .arg("-out")
        .arg(&pk8)
        .output()
        .expect("openssl is required by the recovery tests");
    assert!(out.status.success(), "openssl pkcs8: {out:?}");
    let cert = Certificate::from_pem(
        &std::fs::read_to_string(dir.join(format!("{name}_cert.pem"))).unwrap(),
    )
    .unwrap();
    let key = SigningKey::from_pem(&std::fs::read_to_string(pk8).unwrap()).unwrap();
    (cert, key)
}

/// Every entry of a ledger directory up to `upto` (seqno → bytes), read with the ledger
/// crate's chunk reader.
pub(crate) fn ledger_entries(dir: &Path, upto: u64) -> std::collections::BTreeMap<u64, Vec<u8>> {
    let tmp = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), tmp.path().join(e.file_name())).unwrap();
    }
    let (mut files, _) = consort_ledger::files::LedgerFiles::open(tmp.path(), u64::MAX).unwrap();
    let mut out = std::collections::BTreeMap::new();
    files
        .for_each_entry(|s, b| {
            if s <= upto {
                out.insert(s, b.to_vec());
            }
            Ok(())
        })
        .unwrap();
    out
}
