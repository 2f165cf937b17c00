use consort_kv::Bytes;
use consort_ledger::{tables::NodeInfo, testing::TestService};

use super::*;

#[test]
fn the_trusted_set_is_read_when_the_nodes_table_changes() {
    let dir = tempfile::tempdir().unwrap();
    let svc = TestService::create(dir.path(), |_| {}).unwrap();
    let j = &svc.journal;
    let me = raft_id(&j.node().node_id);
    let (mut seen, mut at) = (None, 0);
    let mut h = Membership {
        journal: j,
        seen: &mut seen,
        config_seqno: &mut at,
    };
    assert_eq!(h.changed(&[]), Some(vec![me]));
    assert_eq!(h.changed(&[me]), None, "unchanged");
    // A second trusted node: the set changes where the journal stands.
    let other = "aa".repeat(32);
    let mut tx = j.begin();
    let info = NodeInfo::trusted("pem".into());
    tx.put(
        tables::NODES_INFO,
        Bytes::from(other.clone()),
        serde_json::to_vec(&info).unwrap(),
    );
    j.commit(tx).unwrap();
    let mut want = vec![me, raft_id(&other)];
    want.sort_unstable();
    let mut h = Membership {
        journal: j,
        seen: &mut seen,
        config_seqno: &mut at,
    };
    assert_eq!(h.changed(&[me]), Some(want));
    assert_eq!(at, j.last_txid().seqno);
}
