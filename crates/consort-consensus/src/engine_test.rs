use bytes::Bytes;

use super::*;

/// A node; the first holds the genesis signature (empty-log nodes never campaign).
fn node(id: NodeId, n: u64) -> Raft {
    let log = if id == 1 { vec![sig(0, 1)] } else { Vec::new() };
    Raft::new(Config::new(id, (1..=n).collect()), 0, None, log, id, 0)
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
    assert!(acts.contains(&Action::Commit { seqno: 2 }), "{acts:?}");
    let (s, acts) = r.propose(Bytes::from_static(b"a"));
    assert_eq!(s, Some((1, 3)));
    assert!(
        !acts.iter().any(|a| matches!(a, Action::Commit { .. })),
        "a normal entry alone never commits"
    );
    let (_, acts) = r.propose_signature(Bytes::new());
    assert!(acts.contains(&Action::Commit { seqno: 4 }));
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
    let (_, _) = nodes[0].propose_signature(Bytes::new());
    // Node 2 (empty) refuses the heartbeat; the leader backs up and sends the genesis and
    // its opening signature one batch at a time; commit follows the acknowledgements.
    let mut ae = sends(&acts).into_iter().find(|(to, _)| *to == 2).unwrap().1;
    let mut committed = false;
    for _ in 0..6 {
        let resp = sends(&nodes[1].receive(1, ae.clone()));
        let acts = nodes[0].receive(2, resp[0].1.clone());
        committed |= acts.contains(&Action::Commit { seqno: 2 });
        match sends(&acts).into_iter().find(|(to, _)| *to == 2) {
            Some((_, m)) => ae = m,
            None => break,
        }
    }
    assert!(committed);
    assert_eq!(nodes[1].last_seqno(), 2);
}

#[test]
fn empty_nodes_wait_and_membership_changes_take_effect() {
    let mut empty = node(2, 3);
    assert!(
        empty.tick(100_000).is_empty(),
        "an empty node does not campaign"
    );
    assert_eq!(empty.role(), Role::Follower);
    let mut r = node(1, 1);
    r.tick(1);
    assert_eq!(
        r.role(),
        Role::Leader,
        "a lone member leads at its first tick"
    );
    r.propose_signature(Bytes::new());
    assert_eq!(r.commit_seqno(), 2);
    // Growing to two members: commits now need node 2.
    let acts = r.set_members(vec![1, 2]);
    assert!(sends(&acts)
        .iter()
        .any(|(to, m)| *to == 2 && matches!(m, Message::AppendEntries { .. })));
    let (_, acts) = r.propose_signature(Bytes::new());
    assert!(!acts.iter().any(|a| matches!(a, Action::Commit { .. })));
    assert_eq!(r.members(), &[1, 2]);
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

fn sig(view: View, seqno: Seqno) -> Entry {
    Entry {
        view,
        seqno,
        kind: EntryKind::Signature,
        data: Bytes::from(format!("sig {view}.{seqno}")),
    }
}

/// Raft's "Figure 8" in CCF's form: a leader must not commit an earlier view's signature
/// just because it reached a majority; only a signature of its own view commits.
#[test]
fn figure_8_old_view_signature_is_not_committed_by_counting_replicas() {
    let members = vec![1, 2, 3, 4, 5];
    let cfg = |id| {
        let mut c = Config::new(id, members.clone());
        c.max_batch = 1;
        c
    };
    // n1 led view 2 and replicated its opening signature (2.2) to n2 only; n3 never got it.
    let mut n1 = Raft::new(cfg(1), 3, None, vec![sig(1, 1), sig(2, 2)], 1, 0);
    let mut n2 = Raft::new(cfg(2), 3, None, vec![sig(1, 1), sig(2, 2)], 2, 0);
    let mut n3 = Raft::new(cfg(3), 3, None, vec![sig(1, 1)], 3, 0);
    // n1 is elected in view 4 by n2 and n3.
    let acts = n1.tick(10_000);
    assert_eq!((n1.role(), n1.view()), (Role::Candidate, 4));
    let rv = sends(&acts).into_iter().find(|(to, _)| *to == 2).unwrap().1;
    let v2 = sends(&n2.receive(1, rv.clone()));
    let v3 = sends(&n3.receive(1, rv));
    n1.receive(2, v2[0].1.clone());
    let acts = n1.receive(3, v3[0].1.clone());
    assert_eq!(n1.role(), Role::Leader);
    assert!(acts.contains(&Action::EmitSignature));
    let heartbeats = sends(&acts);
    let (_, acts) = n1.propose_signature(Bytes::from_static(b"sig 4.3"));
    let mut all = acts;
    // n2 acknowledges up to 2 (the heartbeat sent before 4.3 existed).
    let hb2 = heartbeats
        .iter()
        .find(|(to, _)| *to == 2)
        .unwrap()
        .1
        .clone();
    let r2 = sends(&n2.receive(1, hb2));
    all.extend(n1.receive(2, r2[0].1.clone()));
    // n3 lacks 2.2: it refuses, the leader backs up and sends 2.2 alone (max_batch 1).
    let hb3 = heartbeats
        .iter()
        .find(|(to, _)| *to == 3)
        .unwrap()
        .1
        .clone();
    let r3 = sends(&n3.receive(1, hb3));
    let retry = n1.receive(3, r3[0].1.clone());
    let ae = sends(&retry)
        .into_iter()
        .find(|(to, _)| *to == 3)
        .unwrap()
        .1;
    match &ae {
        Message::AppendEntries { entries, .. } => {
            assert_eq!(entries.iter().map(|e| e.seqno).collect::<Vec<_>>(), vec![2])
        }
        m => panic!("{m:?}"),
    }
    let r3 = sends(&n3.receive(1, ae));
    all.extend(retry);
    all.extend(n1.receive(3, r3[0].1.clone()));
    // 2.2 is now on a majority (n1, n2, n3), but it is a view-2 signature: not committed.
    assert!(
        !all.iter().any(|a| matches!(a, Action::Commit { .. })),
        "committed an old view's signature by counting replicas: {all:?}"
    );
    assert_eq!(n1.commit_seqno(), 0);
    // Had it been, n5 (holding 5.2 from its own view 3) could still be elected by n3 and n4
    // and overwrite 2.2 — which is why it must not count.
    let mut n5 = Raft::new(cfg(5), 4, None, vec![sig(1, 1), sig(3, 2)], 5, 0);
    let mut n4 = Raft::new(cfg(4), 4, None, vec![sig(1, 1)], 4, 0);
    let acts = n5.tick(10_000);
    let rv = sends(&acts).into_iter().find(|(to, _)| *to == 3).unwrap().1;
    let g3 = sends(&n3.receive(5, rv.clone()));
    let g4 = sends(&n4.receive(5, rv));
    assert!(matches!(
        g3[0].1,
        Message::RequestVoteResponse { granted: true, .. }
    ));
    assert!(matches!(
        g4[0].1,
        Message::RequestVoteResponse { granted: true, .. }
    ));
}

#[test]
fn leader_without_quorum_contact_steps_down() {
    let mut nodes: Vec<Raft> = (1..=3).map(|i| node(i, 3)).collect();
    let acts = nodes[0].tick(10_000);
    let (_, rv) = sends(&acts).into_iter().find(|(to, _)| *to == 2).unwrap();
    let resp = sends(&nodes[1].receive(1, rv));
    nodes[0].receive(2, resp[0].1.clone());
    assert_eq!(nodes[0].role(), Role::Leader);
    // Node 2 keeps answering: the leader stays.
    let mut now = 10_000;
    for _ in 0..20 {
        now += 50;
        for (to, m) in sends(&nodes[0].tick(now)) {
            if to == 2 {
                for (_, r) in sends(&nodes[1].receive(1, m)) {
                    nodes[0].receive(2, r);
                }
            }
        }
    }
    assert_eq!(nodes[0].role(), Role::Leader, "a majority answers");
    // Cut off from both peers: within one maximum election timeout it steps down, in the
    // same view, and proposals are refused.
    let view = nodes[0].view();
    let limit = now + nodes[0].cfg.election_timeout_max_ms + 100;
    while nodes[0].role() == Role::Leader && now < limit {
        now += 50;
        nodes[0].tick(now);
    }
    assert_eq!(nodes[0].role(), Role::Follower);
    assert_eq!(nodes[0].view(), view);
    assert_eq!(nodes[0].propose(Bytes::from_static(b"x")).0, None);
}

#[test]
fn a_node_started_from_a_snapshot_follows_from_its_base() {
    // Leader with a full log of 6 entries (signatures at 1, 3 and 6); a follower that holds
    // a snapshot at 3 and nothing after.
    let log: Vec<Entry> = (1..=6)
        .map(|s| {
            if [1, 3, 6].contains(&s) {
                sig(1, s)
            } else {
                Entry {
                    view: 1,
                    seqno: s,
                    kind: EntryKind::Normal,
                    data: Bytes::new(),
                }
            }
        })
        .collect();
    let mut leader = Raft::new(Config::new(1, vec![1, 2]), 1, Some(1), log, 1, 0);
    let mut follower = Raft::with_base(Config::new(2, vec![1, 2]), 1, None, (3, 1), vec![], 2, 0);
    assert_eq!(follower.last_seqno(), 3);
    assert_eq!(follower.commit_seqno(), 3);
    assert_eq!(follower.last_committable(), (1, 3));
    // The leader wins (the follower's base is as up to date as its own committable point
    // is not: the leader's last signature is at 6).
    let acts = leader.tick(10_000);
    let (_, rv) = sends(&acts).into_iter().find(|(to, _)| *to == 2).unwrap();
    let resp = sends(&follower.receive(1, rv));
    let acts = leader.receive(2, resp[0].1.clone());
    assert_eq!(leader.role(), Role::Leader);
    leader.propose_signature(Bytes::new());
    let mut msgs = sends(&acts);
    for _ in 0..10 {
        let Some((_, m)) = msgs.into_iter().find(|(to, _)| *to == 2) else {
            break;
        };
        let replies = sends(&follower.receive(1, m));
        msgs = Vec::new();
        for (_, r) in replies {
            msgs.extend(sends(&leader.receive(2, r)));
        }
    }
    assert_eq!(follower.last_seqno(), 7, "caught up from its base");
    assert_eq!(follower.held().next().map(|e| e.seqno), Some(4));
    assert_eq!(leader.commit_seqno(), 7);
}

#[test]
fn a_retired_primary_commits_its_removal_then_steps_down_and_never_campaigns() {
    let mut nodes: Vec<Raft> = (1..=3).map(|i| node(i, 3)).collect();
    // Deliver everything until quiet; returns whether node `who` saw a commit of `seqno`.
    fn pump(nodes: &mut [Raft], mut msgs: Vec<(NodeId, NodeId, Message)>) {
        for _ in 0..100 {
            let mut next = Vec::new();
            for (from, to, m) in msgs {
                for (t, r) in sends(&nodes[to as usize - 1].receive(from, m)) {
                    next.push((to, t, r));
                }
            }
            if next.is_empty() {
                return;
            }
            msgs = next;
        }
    }
    let acts = nodes[0].tick(10_000);
    let msgs = sends(&acts).into_iter().map(|(t, m)| (1, t, m)).collect();
    pump(&mut nodes, msgs);
    assert_eq!(nodes[0].role(), Role::Leader);
    let (_, acts) = nodes[0].propose_signature(Bytes::from_static(b"open"));
    pump(
        &mut nodes,
        sends(&acts).into_iter().map(|(t, m)| (1, t, m)).collect(),
    );
    // Node 1 removes itself: the configuration entry, then a signature.
    let (_, _) = nodes[0].propose(Bytes::from_static(b"remove node 1"));
    let acts = nodes[0].set_members(vec![2, 3]);
    let mut msgs: Vec<_> = sends(&acts).into_iter().map(|(t, m)| (1, t, m)).collect();
    for n in &mut nodes[1..] {
        n.set_members(vec![2, 3]);
    }
    let (_, acts) = nodes[0].propose_signature(Bytes::from_static(b"sig"));
    msgs.extend(sends(&acts).into_iter().map(|(t, m)| (1, t, m)));
    pump(&mut nodes, msgs);
    assert!(!nodes[0].is_member());
    assert_eq!(
        nodes[0].commit_seqno(),
        nodes[0].last_seqno(),
        "removal committed"
    );
    assert_eq!(nodes[0].role(), Role::Follower, "then it stepped down");
    // It never campaigns; the remaining two elect a leader among themselves.
    assert!(nodes[0].tick(1_000_000).is_empty());
    let acts = nodes[1].tick(1_000_000);
    pump(
        &mut nodes,
        sends(&acts).into_iter().map(|(t, m)| (2, t, m)).collect(),
    );
    assert!(
        nodes[1].role() == Role::Leader,
        "node 2 leads the remaining pair: {:?}",
        nodes[1].role()
    );
}

#[test]
fn only_members_lead_and_only_members_votes_count() {
    let log = vec![Entry {
        view: 2,
        seqno: 1,
        kind: EntryKind::Signature,
        data: Bytes::new(),
    }];
    // A voter gives no vote to a candidate outside its configuration, however up to date.
    let mut voter = Raft::new(Config::new(2, vec![1, 2]), 2, None, log.clone(), 1, 0);
    let acts = voter.receive(
        3,
        Message::RequestVote {
            view: 3,
            last_committable_view: 9,
            last_committable_seqno: 9,
        },
    );
    assert!(!sends(&acts)
        .iter()
        .any(|(_, m)| matches!(m, Message::RequestVoteResponse { granted: true, .. })));
    // A candidate whose configuration left it out meanwhile does not lead on votes it
    // won before (seed 825 of the replica simulator: such a leader's signatures were
    // refused by every backup, and nothing committed again).
    let mut c = Raft::new(Config::new(3, vec![1, 3]), 2, None, log, 3, 0);
    let acts = c.tick(10_000);
    assert!(sends(&acts)
        .iter()
        .any(|(_, m)| matches!(m, Message::RequestVote { .. })));
    let view = c.view();
    c.cfg.members = vec![1, 2];
    c.receive(
        1,
        Message::RequestVoteResponse {
            view,
            granted: true,
        },
    );
    c.receive(
        2,
        Message::RequestVoteResponse {
            view,
            granted: true,
        },
    );
    assert_ne!(c.role, Role::Leader);
}

#[test]
fn committed_entries_are_dropped_and_read_back_for_a_lagging_follower() {
    let mut cfg = Config::new(1, vec![1]);
    cfg.retain_committed = 0;
    let mut r = Raft::new(cfg, 0, None, vec![sig(0, 1)], 1, 0);
    r.tick(1);
    r.propose_signature(Bytes::new());
    for i in 0..5u8 {
        r.propose(Bytes::from(vec![i]));
    }
    r.propose_signature(Bytes::new());
    assert_eq!((r.commit_seqno(), r.last_seqno()), (8, 8));
    assert_eq!(r.held().len(), 0, "nothing committed is held at retain 0");
    r.propose(Bytes::from_static(b"in flight"));
    assert_eq!(r.held_from(), 9, "the uncommitted suffix is always held");
    // Node 2 joins empty: the leader backs up to it and asks the driver for the committed
    // entries it dropped, then sends the held one itself.
    let acts = r.set_members(vec![1, 2]);
    let (_, hb) = sends(&acts).pop().unwrap();
    let mut f = Raft::new(Config::new(2, vec![1, 2]), 0, None, Vec::new(), 2, 0);
    let resp = sends(&f.receive(1, hb));
    let acts = r.receive(2, resp[0].1.clone());
    let stored: Vec<_> = acts
        .iter()
        .filter_map(|a| match a {
            Action::SendStored {
                to, first, last, ..
            } => Some((*to, *first, *last)),
            _ => None,
        })
        .collect();
    assert_eq!(stored, vec![(2, 1, 8)], "{acts:?}");
    assert!(!acts.iter().any(|a| matches!(a, Action::Send { .. })));
}
