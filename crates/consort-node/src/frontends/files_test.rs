use super::*;

#[test]
fn only_committed_snapshot_names_are_accepted() {
    assert_eq!(snapshot_seqno("snapshot_100_104.committed"), Some(100));
    for bad in [
        "snapshot_100_104",
        "snapshot_100.committed",
        "snapshot_104_100.committed",
        "snapshot__104.committed",
        "snapshot_1_2.committed/../../x",
        "../snapshot_1_2.committed",
        "snapshot_+1_2.committed",
        "snapshot_1_2.committed.committed",
        "ledger_1-4.committed",
    ] {
        assert_eq!(snapshot_seqno(bad), None, "{bad}");
    }
}

fn code(e: ApiError) -> (u16, String) {
    let v: serde_json::Value = serde_json::from_slice(&e.body()).expect("json");
    (
        e.status.as_u16(),
        v["error"]["code"].as_str().expect("code").to_string(),
    )
}

#[test]
fn byte_ranges_follow_rfc_9110() {
    let r = |h: &str, len| parse_range(Some(h), len);
    assert_eq!(parse_range(None, 10).expect("none"), None);
    assert_eq!(r("bytes=0-0", 10).expect("ok"), Some((0, 0)));
    assert_eq!(r("bytes=2-5", 10).expect("ok"), Some((2, 5)));
    assert_eq!(r("bytes=2-", 10).expect("ok"), Some((2, 9)));
    assert_eq!(r("bytes=-3", 10).expect("ok"), Some((7, 9)));
    assert_eq!(
        r("bytes=-30", 10).expect("ok"),
        Some((0, 9)),
        "suffix longer than the file"
    );
    assert_eq!(
        r("bytes=8-100", 10).expect("ok"),
        Some((8, 9)),
        "end clamped"
    );
    for unsatisfiable in ["bytes=10-", "bytes=10-20", "bytes=-0"] {
        assert_eq!(
            code(r(unsatisfiable, 10).expect_err(unsatisfiable)),
            (416, "InvalidHeaderValue".into()),
            "{unsatisfiable}"
        );
    }
    assert_eq!(code(r("bytes=0-", 0).expect_err("empty file")).0, 416);
    for bad in [
        "bytes=5-2",
        "bytes=0-1,3-4",
        "items=0-1",
        "bytes=-",
        "bytes=a-1",
        "bytes=1",
        "bytes=+1-2",
    ] {
        assert_eq!(
            code(r(bad, 10).expect_err(bad)),
            (400, "InvalidHeaderValue".into()),
            "{bad}"
        );
    }
}
