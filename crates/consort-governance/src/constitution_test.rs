use super::*;

fn members(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("m{i}")).collect()
}

fn votes(v: &[(usize, bool)]) -> Vec<Vote> {
    v.iter()
        .map(|(i, b)| Vote {
            member_id: format!("m{i}"),
            vote: *b,
        })
        .collect()
}

const PROPOSAL: &str = r#"{"actions": [{"name": "remove_user", "args": {"user_id": "ab"}}]}"#;

#[test]
fn default_constitution_validates_and_resolves_by_majority() {
    let e = Engine::new(DEFAULT_CONSTITUTION, Limits::default()).unwrap();
    assert!(e.validate(PROPOSAL).unwrap().valid);
    let key = consort_crypto::keys::SigningKey::generate().unwrap();
    let pem = consort_crypto::cert::self_signed_leaf(&key, "u", 30)
        .unwrap()
        .to_pem();
    let set_user = serde_json::json!({"actions": [{"name": "set_user", "args": {"cert": pem}}]});
    assert!(e.validate(&set_user.to_string()).unwrap().valid);
    for bad in [
        "not json",
        "{}",
        r#"{"actions": []}"#,
        r#"{"actions": [{"name": "launch_missiles"}]}"#,
        r#"{"actions": [{"name": "set_user", "args": 3}]}"#,
        // Arguments that could only fail to apply are refused at submission, as in CCF.
        r#"{"actions": [{"name": "set_user", "args": {"cert": "garbage"}}]}"#,
        r#"{"actions": [{"name": "set_member", "args": {"cert": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"}}]}"#,
        r#"{"actions": [{"name": "set_user", "args": {}}]}"#,
        r#"{"actions": [{"name": "add_snp_measurement", "args": {"measurement": "zz"}}]}"#,
    ] {
        let v = e.validate(bad).unwrap();
        assert!(!v.valid, "{bad}");
        assert!(!v.description.is_empty());
    }
    let m = members(3);
    assert_eq!(
        e.resolve(PROPOSAL, "m0", &votes(&[(0, true)]), &m).unwrap(),
        ProposalState::Open
    );
    assert_eq!(
        e.resolve(PROPOSAL, "m0", &votes(&[(0, true), (1, true)]), &m)
            .unwrap(),
        ProposalState::Accepted
    );
    assert_eq!(
        e.resolve(PROPOSAL, "m0", &votes(&[(0, false), (2, false)]), &m)
            .unwrap(),
        ProposalState::Rejected
    );
    // Votes of non-members do not count.
    assert_eq!(
        e.resolve(PROPOSAL, "m0", &votes(&[(0, true), (7, true)]), &m)
            .unwrap(),
        ProposalState::Open
    );
}

#[test]
fn a_unanimity_constitution_waits_for_the_last_ballot() {
    let unanimity = r#"
        export function validate(input) { return { valid: true, description: "" }; }
        export function resolve(p, proposer, votes, active) {
          const yes = new Set(votes.filter(v => v.vote).map(v => v.member_id));
          if (votes.some(v => !v.vote)) return "Rejected";
          return active.every(m => yes.has(m)) ? "Accepted" : "Open";
        }
    "#;
    let e = Engine::new(unanimity, Limits::default()).unwrap();
    let m = members(3);
    assert_eq!(
        e.resolve(PROPOSAL, "m0", &votes(&[(0, true), (1, true)]), &m)
            .unwrap(),
        ProposalState::Open
    );
    assert_eq!(
        e.resolve(
            PROPOSAL,
            "m0",
            &votes(&[(0, true), (1, true), (2, true)]),
            &m
        )
        .unwrap(),
        ProposalState::Accepted
    );
}

#[test]
fn ballots_are_functions() {
    let e = Engine::new(DEFAULT_CONSTITUTION, Limits::default()).unwrap();
    let yes = "export function vote(proposal, proposerId) { return JSON.parse(proposal).actions[0].name === 'remove_user'; }";
    assert!(e.ballot(yes, PROPOSAL, "m0").unwrap());
    let no = "export function vote(proposal, proposerId) { return proposerId === 'someone else'; }";
    assert!(!e.ballot(no, PROPOSAL, "m0").unwrap());
    let not_bool = "export function vote() { return 'yes'; }";
    assert!(matches!(
        e.ballot(not_bool, PROPOSAL, "m0"),
        Err(ScriptError::BadReturn(_))
    ));
}

#[test]
fn runaway_scripts_fail_cleanly_and_the_engine_survives() {
    let limits = Limits {
        time: Duration::from_millis(50),
        ..Limits::default()
    };
    let looping = r#"
        export function validate(input) { while (true) {} }
        export function resolve() { let a = []; while (true) { a.push(new Array(100000).fill(1)); } }
    "#;
    let e = Engine::new(looping, limits).unwrap();
    let t = Instant::now();
    assert_eq!(e.validate(PROPOSAL), Err(ScriptError::Timeout(limits.time)));
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(matches!(
        e.resolve(PROPOSAL, "m0", &[], &members(1)),
        Err(ScriptError::ResourceLimit | ScriptError::Timeout(_))
    ));
    // A looping ballot is stopped too, and the constitution still answers afterwards.
    let ok = Engine::new(DEFAULT_CONSTITUTION, limits).unwrap();
    assert_eq!(
        ok.ballot("export function vote() { for (;;) {} }", PROPOSAL, "m0"),
        Err(ScriptError::Timeout(limits.time))
    );
    let deep = "export function vote() { function f(n) { return f(n + 1) + 1; } return f(0); }";
    assert!(matches!(
        ok.ballot(deep, PROPOSAL, "m0"),
        Err(ScriptError::ResourceLimit | ScriptError::Exception(_))
    ));
    assert!(ok.validate(PROPOSAL).unwrap().valid);
}

#[test]
fn broken_constitutions_are_refused() {
    assert!(matches!(
        Engine::new("export function validate( {", Limits::default()),
        Err(ScriptError::Compile(_))
    ));
    let throws = "export function validate(i) { throw new Error('no way'); }";
    let e = Engine::new(throws, Limits::default()).unwrap();
    assert_eq!(
        e.validate(PROPOSAL),
        Err(ScriptError::Exception("no way".into()))
    );
    assert_eq!(
        e.resolve(PROPOSAL, "m0", &[], &[]),
        Err(ScriptError::Missing("resolve"))
    );
}
