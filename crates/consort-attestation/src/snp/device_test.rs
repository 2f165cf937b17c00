use super::*;

#[test]
fn the_ioctl_number_is_linuxs() {
    assert_eq!(std::mem::size_of::<GuestRequestIoctl>(), 32);
    assert_eq!(SNP_GET_REPORT, 0xC020_5300);
}

#[test]
fn the_request_is_report_data_then_vmpl_then_zeros() {
    let mut rd = [0u8; 64];
    rd[0] = 0xaa;
    rd[63] = 0xbb;
    let req = report_request(&rd, 2);
    assert_eq!(req.len(), 96);
    assert_eq!(&req[..64], &rd[..]);
    assert_eq!(&req[64..68], &[2, 0, 0, 0]);
    assert!(req[68..].iter().all(|&b| b == 0));
}

fn response(status: u32, size: u32, fill: u8) -> Vec<u8> {
    let mut resp = vec![0u8; REPORT_RESP_LEN];
    resp[0..4].copy_from_slice(&status.to_le_bytes());
    resp[4..8].copy_from_slice(&size.to_le_bytes());
    for b in &mut resp[32..32 + 1184] {
        *b = fill;
    }
    resp
}

#[test]
fn the_report_follows_the_32_byte_header() {
    let report = report_from_response(&response(0, 1184, 7)).unwrap();
    assert_eq!(report, vec![7u8; 1184]);
}

#[test]
fn a_failed_status_or_a_size_too_big_is_unavailable() {
    let e = report_from_response(&response(0x16, 1184, 0)).unwrap_err();
    assert!(e.to_string().contains("status 0x16"), "{e}");
    let e = report_from_response(&response(0, 5000, 0)).unwrap_err();
    assert!(e.to_string().contains("does not fit"), "{e}");
    assert!(report_from_response(&[0u8; 3]).is_err());
    assert!(report_from_response(&response(0, u32::MAX, 0)).is_err());
}

#[test]
fn without_the_device_quoting_is_unavailable() {
    if std::path::Path::new(SEV_GUEST_DEVICE).exists() {
        return;
    }
    let p = SnpPlatform::new("/nonexistent/endorsements.pem".into());
    let e = p.quote(&[0u8; 64]).unwrap_err();
    assert!(e.is_retryable());
    assert!(e.to_string().contains("/dev/sev-guest"), "{e}");
}
