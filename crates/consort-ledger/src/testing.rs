//! Helpers that build real ledgers for tests and benchmarks (feature `test-utils`).

use std::{path::Path, sync::Arc};

use consort_crypto::cert::Sans;
use consort_kv::{CommitOutcome, LedgerSecret, LedgerSecrets, Store, TxId};

use crate::{
    identity::{NodeIdentity, ServiceIdentity},
    Journal, JournalConfig, LedgerError, OpenReport,
};

/// A one-node service writing to a ledger directory.
#[derive(Debug)]
pub struct TestService {
    pub service: ServiceIdentity,
    pub node: Arc<NodeIdentity>,
    pub secrets: LedgerSecrets,
    pub journal: Journal,
}

/// A write made by [`TestService::write_records`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub txid: TxId,
    pub map: String,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

impl TestService {
    /// Create a service in `dir` (bootstrap + open), with `configure` applied to the config.
    pub fn create(
        dir: &Path,
        configure: impl FnOnce(&mut JournalConfig),
    ) -> Result<Self, LedgerError> {
        let service = ServiceIdentity::generate()?;
        let node = Arc::new(NodeIdentity::generate(
            &service,
            &Sans {
                ips: vec![std::net::Ipv4Addr::LOCALHOST.into()],
                ..Default::default()
            },
        )?);
        let secrets = LedgerSecrets::single(LedgerSecret::generate()?);
        let mut config = JournalConfig::new(dir);
        configure(&mut config);
        let journal = Journal::create(
            config,
            Arc::new(Store::new()),
            node.clone(),
            secrets.clone(),
        )?;
        journal.bootstrap_service(&service.cert)?;
        journal.open_service()?;
        Ok(Self {
            service,
            node,
            secrets,
            journal,
        })
    }

    /// Drop the journal and reopen the same directory with the same identity and secrets.
    pub fn reopen(self) -> Result<(Self, OpenReport), LedgerError> {
        let config = self.journal.config().clone();
        let Self {
            service,
            node,
            secrets,
            journal,
        } = self;
        drop(journal);
        let (journal, report) = Journal::open(
            config,
            Arc::new(Store::new()),
            node.clone(),
            secrets.clone(),
        )?;
        Ok((
            Self {
                service,
                node,
                secrets,
                journal,
            },
            report,
        ))
    }

    /// Write `n` logging-style records, alternating the public map `public:records` and the
    /// private map `records`; values embed `marker` so tests can grep for them.
    pub fn write_records(&self, n: usize, marker: &str) -> Result<Vec<Written>, LedgerError> {
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let map = if i % 2 == 0 {
                "public:records"
            } else {
                "records"
            };
            let key = format!("{i:08}").into_bytes();
            let value = format!("{marker}-{i:06}").into_bytes();
            let mut tx = self.journal.begin();
            tx.put(map, key.clone(), value.clone());
            if i % 7 == 3 && i > 10 {
                // Some removes too.
                tx.remove(map, format!("{:08}", i - 10).into_bytes());
            }
            match self.journal.commit(tx)? {
                CommitOutcome::Committed(c) => out.push(Written {
                    txid: c.txid,
                    map: map.into(),
                    key,
                    value,
                }),
                CommitOutcome::ReadOnly { .. } => unreachable!(),
            }
        }
        Ok(out)
    }
}
