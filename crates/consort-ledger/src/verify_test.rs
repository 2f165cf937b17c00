use super::*;

#[test]
fn service_transitions_include_recovery() {
    use ServiceStatus::*;
    let mut a = Auditor::new();
    let ok = |a: &Auditor, to| a.check_service_transition(to).is_ok();
    assert!(ok(&a, Open), "the first record may say anything");
    for (from, allowed, refused) in [
        (
            Opening,
            vec![Open, Recovering, WaitingForRecoveryShares],
            vec![],
        ),
        (
            Open,
            vec![Recovering, Opening],
            vec![WaitingForRecoveryShares],
        ),
        (
            Recovering,
            vec![WaitingForRecoveryShares, Recovering],
            vec![Open],
        ),
        (WaitingForRecoveryShares, vec![Open, Recovering], vec![]),
    ] {
        a.service_status = Some(from);
        for to in allowed {
            assert!(ok(&a, to), "{from:?} -> {to:?}");
        }
        for to in refused {
            assert!(!ok(&a, to), "{from:?} -> {to:?}");
        }
    }
}
