//! CCF's governance table names.

pub const MEMBERS_CERTS: &str = "public:ccf.gov.members.certs";
pub const MEMBERS_INFO: &str = "public:ccf.gov.members.info";
pub const MEMBERS_ENC_KEYS: &str = "public:ccf.gov.members.encryption_public_keys";
pub const USERS_CERTS: &str = "public:ccf.gov.users.certs";
pub const USERS_INFO: &str = "public:ccf.gov.users.info";
pub const NODES_INFO: &str = "public:ccf.gov.nodes.info";
pub const NODES_ENDORSED_CERTS: &str = "public:ccf.gov.nodes.endorsed_certificates";
pub const NODES_CODE_IDS: &str = "public:ccf.gov.nodes.code_ids";
pub const SERVICE_INFO: &str = "public:ccf.gov.service.info";
pub const SERVICE_CONFIG: &str = "public:ccf.gov.service.config";
pub const JWT_ISSUERS: &str = "public:ccf.gov.jwt.issuers";
pub const JWT_KEYS: &str = "public:ccf.gov.jwt.public_signing_keys";
pub const CONSTITUTION: &str = "public:ccf.gov.constitution";
pub const PROPOSALS: &str = "public:ccf.gov.proposals";
pub const PROPOSALS_INFO: &str = "public:ccf.gov.proposals_info";
/// Signed governance requests already seen (replay protection), by signature digest.
pub const COSE_RECENT: &str = "public:ccf.gov.cose_recent_proposals";
/// Each member's latest signed governance request (the ledger keeps every one).
pub const HISTORY: &str = "public:ccf.gov.history";
/// Ethereum application settings written by governance: `chain_id` → decimal.
pub const ETH_CONFIG: &str = "public:ccf.gov.eth.config";
/// Ethereum senders allowed to transact (lowercase `0x…` address → `{}`); empty: anyone.
pub const ETH_SENDERS: &str = "public:ccf.gov.eth.senders";
/// Balances set by governance (address → wei), moved into the application's private state
/// by the node in the transaction that applies the proposal.
pub const ETH_BALANCE_UPDATES: &str = "public:ccf.gov.eth.balance_updates";
/// Key of single-value tables.
pub const SINGLETON: [u8; 8] = consort_kv::typed::SINGLETON_KEY;
