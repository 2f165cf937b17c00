use super::*;
use crate::{report_data_for_key, verify as verify_any};

#[test]
fn a_virtual_quote_binds_its_report_data_and_says_it_is_insecure() {
    let p = VirtualPlatform::new("ab".repeat(32), host_data_of_policy(None));
    let rd = report_data_for_key(b"node key");
    let e = p.quote(&rd).unwrap();
    let c = verify_any(&e, &rd).unwrap();
    assert!(c.insecure);
    assert_eq!(c.measurement, "ab".repeat(32));
    assert_eq!(
        c.host_data,
        hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b""))
    );
    let other = report_data_for_key(b"another key");
    let err = verify_any(&e, &other).unwrap_err();
    assert!(
        err.to_string().contains("report data check failed"),
        "{err}"
    );
    assert!(Format::InsecureVirtual.to_string().contains("insecure"));
}

#[test]
fn the_measurement_is_the_hash_of_the_running_binary() {
    let p = VirtualPlatform::of_this_process(None).unwrap();
    let exe = std::env::current_exe().unwrap();
    let want = hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        &std::fs::read(exe).unwrap(),
    ));
    assert_eq!(p.measurement(), want);
}

#[test]
fn a_malformed_virtual_quote_is_refused() {
    for q in [
        &b"not json"[..],
        br#"{"measurement":"zz","host_data":"","report_data":""}"#,
        br#"{"measurement":"ab","host_data":"ab","report_data":"ab","extra":1}"#,
    ] {
        let err = verify(q).unwrap_err();
        assert!(err.to_string().contains("malformed"), "{err}");
    }
}
