use bytes::Bytes;

use super::*;

fn node(id: NodeId, n: u64) -> Raft {
    Raft::new(
        Config::new(id, (1..=n).collect()),
        0,
        None,
        Vec::new(),
        id,
        0,
    )
}

fn sends(actions: &[Action]) -> Vec<(NodeId, Message)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { to, msg } => Some((*to, msg.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn single_node_elects_itself_and_commits_signatures_only() {
    let mut r = node(1, 1);
    let acts = r.tick(1000);
    assert_eq!(r.role(), Role::Leader);
    // The driver is asked for the opening signature, which commits at once.
    assert!(acts.contains(&Action::EmitSignature));
    let (_, acts) = r.propose_signature(Bytes::new());
    assert!(acts.contains(&Action::Commit { seqno: 1 }));
    let (s, acts) = r.propose(Bytes::from_static(b"a"));
    assert_eq!(s, Some((1, 2)));
    assert!(
        !acts.iter().any(|a| matches!(a, Action::Commit { .. })),
        "a normal entry alone never commits"
    );
    let (_, acts) = r.propose_signature(Bytes::new());
    assert!(acts.contains(&Action::Commit { seqno: 3 }));
}

#[test]
fn three_nodes_elect_replicate_and_commit_at_majority() {
    let mut nodes: Vec<Raft> = (1..=3).map(|i| node(i, 3)).collect();
    let acts = nodes[0].tick(10_000);
    assert_eq!(nodes[0].role(), Role::Candidate);
    // Node 2 votes; node 1 becomes leader.
    let votes = sends(&acts);
    let (_, rv) = votes.iter().find(|(to, _)| *to == 2).unwrap().clone();
    let resp = sends(&nodes[1].receive(1, rv));
    let acts = nodes[0].receive(2, resp[0].1.clone());
    assert_eq!(nodes[0].role(), Role::Leader);
    assert!(acts.contains(&Action::EmitSignature));
    let (_, acts) = nodes[0].propose_signature(Bytes::new());
    // Leader's opening signature goes to node 2, which acks; commit follows.
    let ae = sends(&acts).into_iter().find(|(to, _)| *to == 2).unwrap().1;
    let resp = sends(&nodes[1].receive(1, ae));
    let acts = nodes[0].receive(2, resp[0].1.clone());
    assert!(acts.contains(&Action::Commit { seqno: 1 }), "{acts:?}");
    assert_eq!(nodes[1].log().len(), 1);
}

#[test]
fn candidate_rolls_back_unsigned_tail() {
    let mut r = node(1, 3);
    let log = vec![
        Entry {
            view: 1,
            seqno: 1,
            kind: EntryKind::Signature,
            data: Bytes::new(),
        },
        Entry {
            view: 1,
            seqno: 2,
            kind: EntryKind::Normal,
            data: Bytes::from_static(b"x"),
        },
    ];
    r = Raft::new(r.cfg.clone(), 1, None, log, 7, 0);
    let acts = r.tick(10_000);
    assert_eq!(r.role(), Role::Candidate);
    assert!(acts.contains(&Action::Truncate { after: 1 }));
    assert_eq!(r.last_seqno(), 1);
}

#[test]
fn votes_require_an_up_to_date_committable_entry() {
    let log = vec![Entry {
        view: 2,
        seqno: 1,
        kind: EntryKind::Signature,
        data: Bytes::new(),
    }];
    let mut voter = Raft::new(Config::new(2, vec![1, 2, 3]), 2, None, log, 1, 0);
    let acts = voter.receive(
        1,
        Message::RequestVote {
            view: 3,
            last_committable_view: 1,
            last_committable_seqno: 5,
        },
    );
    assert!(sends(&acts).iter().any(|(_, m)| *m
        == Message::RequestVoteResponse {
            view: 3,
            granted: false
        }));
    let acts = voter.receive(
        3,
        Message::RequestVote {
            view: 3,
            last_committable_view: 2,
            last_committable_seqno: 1,
        },
    );
    assert!(sends(&acts).iter().any(|(_, m)| *m
        == Message::RequestVoteResponse {
            view: 3,
            granted: true
        }));
    // One vote per view.
    let acts = voter.receive(
        1,
        Message::RequestVote {
            view: 3,
            last_committable_view: 9,
            last_committable_seqno: 9,
        },
    );
    assert!(sends(&acts).iter().any(|(_, m)| *m
        == Message::RequestVoteResponse {
            view: 3,
            granted: false
        }));
}
