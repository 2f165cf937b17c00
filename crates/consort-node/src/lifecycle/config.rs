//! Node configuration, from a JSON or TOML file.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::NodeError;

/// A member given at service creation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MemberConfig {
    /// PEM certificate of the member's identity.
    pub certificate_file: PathBuf,
    /// PEM RSA public key for recovery shares (optional).
    #[serde(default)]
    pub encryption_public_key_file: Option<PathBuf>,
    #[serde(default)]
    pub data: serde_json::Value,
}

/// A user given at service creation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub certificate_file: PathBuf,
    #[serde(default)]
    pub data: serde_json::Value,
}

/// A JWT issuer trusted at service creation, with its signing keys.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct JwtIssuerConfig {
    /// The `iss` value of its tokens.
    pub issuer: String,
    /// JWKS document (`{"keys": [...]}`) with the issuer's public signing keys.
    pub jwks_file: PathBuf,
}

/// How a new node joins an existing service (used when its ledger directory is empty).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct JoinConfig {
    /// HTTPS address of any node of the service.
    pub target_rpc_address: SocketAddr,
    /// The service identity certificate: the only thing the joiner trusts.
    pub service_certificate_file: PathBuf,
    /// Token the service's operators configured for auto-trust (`join_token`).
    #[serde(default)]
    pub token: Option<String>,
    /// Start from the target's latest committed snapshot (verified) instead of replaying
    /// the whole ledger.
    #[serde(default = "yes")]
    pub fetch_snapshot: bool,
}

/// The platform a node attests on, and what its evidence carries.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AttestationConfig {
    /// `virtual` (development: proves nothing) or `sev-snp` (`/dev/sev-guest`).
    #[serde(default)]
    pub platform: Platform,
    /// The security policy this node runs under. Virtual: its SHA-256 is the host data.
    /// SEV-SNP: the host set the host data at launch; the policy is recorded with it when
    /// this node creates a service.
    #[serde(default)]
    pub security_policy_file: Option<PathBuf>,
    /// SEV-SNP: the endorsements the host provides (PEM: VCEK, then ASK and ARK), since
    /// the verifier may be offline.
    #[serde(default)]
    pub snp_endorsements_file: Option<PathBuf>,
    /// A new service accepts hardware evidence only (recorded in its configuration as
    /// `require_hardware_attestation`); virtual joiners are refused. Default: whether this
    /// node attests on hardware.
    #[serde(default)]
    pub require_hardware: Option<bool>,
}

/// An attestation platform.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum Platform {
    #[default]
    #[serde(rename = "virtual")]
    Virtual,
    #[serde(rename = "sev-snp")]
    SevSnp,
}

/// Everything a node needs to start.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Address of the HTTPS interface for clients.
    pub rpc_address: SocketAddr,
    /// Address of the node-to-node interface (consensus, forwarding). Default: the RPC
    /// address's IP with a free port (recorded in the ledger at creation or join; give it
    /// explicitly for nodes that restart).
    #[serde(default)]
    pub node_to_node_address: Option<SocketAddr>,
    /// The node-to-node address other nodes dial, if not the bound one (NAT, proxies).
    /// Outbound node-to-node connections leave from the bound address's IP.
    #[serde(default)]
    pub node_to_node_published_address: Option<SocketAddr>,
    /// Join the service of another node instead of creating a new one.
    #[serde(default)]
    pub join: Option<JoinConfig>,
    /// Trust joining nodes at once, without a governance vote, if they present
    /// `join_token` (operator-side policy; without a token any node that reaches this
    /// port would be trusted, so a token is required).
    #[serde(default)]
    pub auto_trust_joiners: bool,
    #[serde(default)]
    pub join_token: Option<String>,
    /// Election timeout (ms): a backup that hears nothing from a primary for between this
    /// and twice this long starts an election.
    #[serde(default = "default_election_timeout")]
    pub election_timeout_ms: u64,
    /// Primary heartbeat interval (ms).
    #[serde(default = "default_heartbeat")]
    pub heartbeat_ms: u64,
    /// Directory for the node's identity, sealed secrets and the service certificate.
    pub data_dir: PathBuf,
    /// Ledger directory (default `<data_dir>/ledger`).
    #[serde(default)]
    pub ledger_dir: Option<PathBuf>,
    /// Complete a ledger chunk at the next signature once it is this big.
    #[serde(default = "default_chunk_size")]
    pub ledger_chunk_bytes: u64,
    /// Sign after this many transactions...
    #[serde(default = "default_sig_tx")]
    pub signature_tx_interval: u64,
    /// ...or this many milliseconds.
    #[serde(default = "default_sig_ms")]
    pub signature_ms_interval: u64,
    /// How many past transactions' state the node keeps in memory for reads at past
    /// versions (Ethereum state at past blocks); 0 keeps none. Only values overwritten
    /// within the window cost memory.
    #[serde(default = "default_history_window")]
    pub history_window: u64,
    /// Write a snapshot (CCF format, `snapshot_<seqno>_<evidence>.committed`) after this many
    /// committed transactions; 0 disables.
    #[serde(default)]
    pub snapshot_tx_interval: u64,
    /// Snapshot directory (default `<data_dir>/snapshots`).
    #[serde(default)]
    pub snapshot_dir: Option<PathBuf>,
    /// Members of a new service.
    #[serde(default)]
    pub members: Vec<MemberConfig>,
    /// Users of a new service.
    #[serde(default)]
    pub users: Vec<UserConfig>,
    /// JWT issuers trusted by a new service.
    #[serde(default)]
    pub jwt_issuers: Vec<JwtIssuerConfig>,
    /// The constitution of a new service (JavaScript module); default: Consort's (majority
    /// of active members, the standard actions).
    #[serde(default)]
    pub constitution_file: Option<PathBuf>,
    /// Open a new service right away (otherwise members open it with a
    /// `transition_service_to_open` proposal).
    #[serde(default = "yes")]
    pub open_service: bool,
    /// Largest request body accepted, in bytes.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Most requests executing at once; more wait in line.
    #[serde(default = "default_workers")]
    pub max_concurrent_requests: usize,
    /// Most requests waiting in line; beyond this the node answers 503.
    #[serde(default = "default_queue")]
    pub max_queued_requests: usize,
    /// Most open client connections.
    #[serde(default = "default_conns")]
    pub max_connections: usize,
    /// A request not answered within this many milliseconds gets 503.
    #[serde(default = "default_timeout")]
    pub request_timeout_ms: u64,
    /// IP addresses and DNS names for the node certificate.
    #[serde(default)]
    pub subject_alt_names: Vec<String>,
    /// Application settings by application name (e.g. `ethereum`).
    #[serde(default)]
    pub apps: std::collections::BTreeMap<String, serde_json::Value>,
    /// A new service's recovery threshold (CCF's `service_configuration.recovery_threshold`;
    /// default: every member with an encryption key).
    #[serde(default)]
    pub recovery_threshold: Option<u64>,
    /// Recover a lost service from the ledger in `ledger_dir` (CCF's `Recover` start;
    /// `consort node recover` sets it).
    #[serde(default)]
    pub recover: bool,
    /// Recovering: the previous service's identity certificate, checked against the ledger.
    #[serde(default)]
    pub previous_service_identity_file: Option<PathBuf>,
    /// How this node attests (default: the insecure virtual platform).
    #[serde(default)]
    pub attestation: AttestationConfig,
}

fn default_chunk_size() -> u64 {
    consort_ledger::files::DEFAULT_CHUNK_THRESHOLD
}
fn default_election_timeout() -> u64 {
    1000
}
fn default_heartbeat() -> u64 {
    50
}
fn default_history_window() -> u64 {
    10_000
}
fn default_sig_tx() -> u64 {
    5000
}
fn default_sig_ms() -> u64 {
    1000
}
fn yes() -> bool {
    true
}
fn default_max_body() -> usize {
    1 << 20
}
fn default_workers() -> usize {
    64
}
fn default_queue() -> usize {
    4096
}
fn default_conns() -> usize {
    4096
}
fn default_timeout() -> u64 {
    30_000
}

impl NodeConfig {
    /// A config with defaults for everything but the address and data directory.
    pub fn new(rpc_address: SocketAddr, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            rpc_address,
            node_to_node_address: None,
            node_to_node_published_address: None,
            join: None,
            auto_trust_joiners: false,
            join_token: None,
            election_timeout_ms: default_election_timeout(),
            heartbeat_ms: default_heartbeat(),
            data_dir: data_dir.into(),
            ledger_dir: None,
            ledger_chunk_bytes: default_chunk_size(),
            signature_tx_interval: default_sig_tx(),
            signature_ms_interval: default_sig_ms(),
            history_window: default_history_window(),
            snapshot_tx_interval: 0,
            snapshot_dir: None,
            members: Vec::new(),
            users: Vec::new(),
            jwt_issuers: Vec::new(),
            open_service: true,
            constitution_file: None,
            max_body_bytes: default_max_body(),
            max_concurrent_requests: default_workers(),
            max_queued_requests: default_queue(),
            max_connections: default_conns(),
            request_timeout_ms: default_timeout(),
            subject_alt_names: Vec::new(),
            apps: Default::default(),
            recovery_threshold: None,
            recover: false,
            previous_service_identity_file: None,
            attestation: AttestationConfig::default(),
        }
    }

    /// Load from `path`: TOML if it ends in `.toml`, JSON otherwise. Relative paths inside
    /// are resolved against the file's directory.
    pub fn load(path: &Path) -> Result<Self, NodeError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| NodeError::Config(format!("cannot read {}: {e}", path.display())))?;
        let mut c: NodeConfig = if path.extension().is_some_and(|e| e == "toml") {
            toml::from_str(&text)
                .map_err(|e| NodeError::Config(format!("{}: {e}", path.display())))?
        } else {
            serde_json::from_str(&text)
                .map_err(|e| NodeError::Config(format!("{}: {e}", path.display())))?
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut c.data_dir);
        if let Some(l) = c.ledger_dir.as_mut() {
            fix(l);
        }
        if let Some(d) = c.snapshot_dir.as_mut() {
            fix(d);
        }
        if let Some(f) = c.previous_service_identity_file.as_mut() {
            fix(f);
        }
        for m in &mut c.members {
            fix(&mut m.certificate_file);
            if let Some(k) = m.encryption_public_key_file.as_mut() {
                fix(k);
            }
        }
        for u in &mut c.users {
            fix(&mut u.certificate_file);
        }
        for j in &mut c.jwt_issuers {
            fix(&mut j.jwks_file);
        }
        if let Some(j) = c.join.as_mut() {
            fix(&mut j.service_certificate_file);
        }
        if let Some(f) = c.constitution_file.as_mut() {
            fix(f);
        }
        for f in [
            c.attestation.security_policy_file.as_mut(),
            c.attestation.snp_endorsements_file.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            fix(f);
        }
        if c.auto_trust_joiners && c.join_token.as_deref().unwrap_or("").is_empty() {
            return Err(NodeError::Config(format!(
                "{}: auto_trust_joiners needs a non-empty join_token",
                path.display()
            )));
        }
        Ok(c)
    }

    pub fn snapshot_dir(&self) -> PathBuf {
        self.snapshot_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("snapshots"))
    }

    pub fn ledger_dir(&self) -> PathBuf {
        self.ledger_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("ledger"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_toml_with_relative_paths() {
        let d = tempfile::tempdir().unwrap();
        let j = d.path().join("n.json");
        std::fs::write(
            &j,
            r#"{"rpc_address": "127.0.0.1:8000", "data_dir": "node0", "users": [{"certificate_file": "u.pem"}]}"#,
        )
        .unwrap();
        let c = NodeConfig::load(&j).unwrap();
        assert_eq!(c.data_dir, d.path().join("node0"));
        assert_eq!(c.users[0].certificate_file, d.path().join("u.pem"));
        assert_eq!(c.signature_tx_interval, 5000);
        let t = d.path().join("n.toml");
        std::fs::write(
            &t,
            "rpc_address = \"127.0.0.1:8001\"\ndata_dir = \"/x\"\nsignature_ms_interval = 50\n",
        )
        .unwrap();
        let c = NodeConfig::load(&t).unwrap();
        assert_eq!(c.signature_ms_interval, 50);
        std::fs::write(
            &t,
            "rpc_address = \"127.0.0.1:8001\"\ndata_dir = \"/x\"\nbogus = 1\n",
        )
        .unwrap();
        assert!(NodeConfig::load(&t).is_err());
    }
}
