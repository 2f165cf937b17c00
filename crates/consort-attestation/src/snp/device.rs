//! Quoting inside an SEV-SNP guest: the `SNP_GET_REPORT` ioctl of `/dev/sev-guest`
//! (Linux `include/uapi/linux/sev-guest.h`; layouts as in virtee/sev
//! `src/firmware/linux/guest/{ioctl,types}.rs`).
#![allow(unsafe_code)]

use std::path::PathBuf;

use crate::{AttestError, Evidence, Format, Platform, ReportData};

/// The guest device.
pub const SEV_GUEST_DEVICE: &str = "/dev/sev-guest";
/// `struct snp_report_req`: user_data[64], vmpl u32, rsvd[28].
pub const REPORT_REQ_LEN: usize = 96;
/// `struct snp_report_resp`: data[4000].
pub const REPORT_RESP_LEN: usize = 4000;
/// The header of the response body: status u32, report_size u32, reserved[24].
pub const REPORT_RESP_HEADER_LEN: usize = 32;

/// `struct snp_guest_request_ioctl` (32 bytes: the u8 version is padded to 8).
#[repr(C)]
#[derive(Debug, Default)]
struct GuestRequestIoctl {
    /// Message version, must be non-zero (1).
    msg_version: u8,
    /// Address of the request.
    req_data: u64,
    /// Address of the response.
    resp_data: u64,
    /// bits 0..32 firmware error, 32..64 VMM error.
    exitinfo2: u64,
}

/// Linux `_IOWR(ty, nr, size)`: direction read|write (3) in bits 30..32, the size in
/// bits 16..30, the type in 8..16, the number in 0..8.
pub const fn iowr(ty: u8, nr: u8, size: usize) -> u64 {
    (3u64 << 30) | ((size as u64 & 0x3fff) << 16) | ((ty as u64) << 8) | nr as u64
}

/// `SNP_GET_REPORT = _IOWR('S', 0x0, struct snp_guest_request_ioctl)` = 0xC0205300.
pub const SNP_GET_REPORT: u64 = iowr(b'S', 0x0, std::mem::size_of::<GuestRequestIoctl>());

/// The bytes of `struct snp_report_req` for `report_data` at `vmpl`.
pub fn report_request(report_data: &ReportData, vmpl: u32) -> [u8; REPORT_REQ_LEN] {
    let mut out = [0u8; REPORT_REQ_LEN];
    out[..64].copy_from_slice(report_data);
    out[64..68].copy_from_slice(&vmpl.to_le_bytes());
    out
}

/// The report in `struct snp_report_resp`, after checking its header.
pub fn report_from_response(resp: &[u8]) -> Result<Vec<u8>, AttestError> {
    let word = |off: usize| {
        resp.get(off..off + 4)
            .and_then(|s| <[u8; 4]>::try_from(s).ok())
            .map(u32::from_le_bytes)
    };
    let (Some(status), Some(size)) = (word(0), word(4)) else {
        return Err(AttestError::Unavailable(
            "SNP_GET_REPORT: short response".into(),
        ));
    };
    if status != 0 {
        return Err(AttestError::Unavailable(format!(
            "SNP_GET_REPORT: the firmware returned status 0x{status:x}"
        )));
    }
    let start = REPORT_RESP_HEADER_LEN;
    usize::try_from(size)
        .ok()
        .and_then(|n| resp.get(start..start.checked_add(n)?))
        .map(<[u8]>::to_vec)
        .ok_or_else(|| {
            AttestError::Unavailable(format!(
                "SNP_GET_REPORT: report size {size} does not fit the {}-byte response",
                resp.len()
            ))
        })
}

/// The SEV-SNP platform of this guest: reports from `/dev/sev-guest`, endorsed by the
/// PEM VCEK, ASK, ARK the host provides in a file.
#[derive(Debug, Clone)]
pub struct SnpPlatform {
    endorsements_file: PathBuf,
    vmpl: u32,
}

impl SnpPlatform {
    /// The platform, with the host's endorsements (PEM VCEK, ASK, ARK) in
    /// `endorsements_file`, read at each quote. Reports are requested at VMPL 0.
    pub fn new(endorsements_file: PathBuf) -> Self {
        Self {
            endorsements_file,
            vmpl: 0,
        }
    }
}

/// Issue `SNP_GET_REPORT` on `/dev/sev-guest`.
fn get_report(report_data: &ReportData, vmpl: u32) -> Result<Vec<u8>, AttestError> {
    use std::os::fd::AsRawFd;
    let dev = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(SEV_GUEST_DEVICE)
        .map_err(|e| {
            AttestError::Unavailable(format!(
                "cannot open {SEV_GUEST_DEVICE} ({e}): this is not an SEV-SNP guest, or the sev-guest driver is not loaded"
            ))
        })?;
    let req = report_request(report_data, vmpl);
    let mut resp = vec![0u8; REPORT_RESP_LEN];
    let mut ioctl_arg = GuestRequestIoctl {
        msg_version: 1,
        req_data: req.as_ptr() as u64,
        resp_data: resp.as_mut_ptr() as u64,
        exitinfo2: 0,
    };
    // SAFETY: `dev` is an open file; `ioctl_arg` is a live `snp_guest_request_ioctl`
    // whose pointers address `req` (96 bytes, read by the kernel) and `resp` (4000
    // bytes, written by the kernel), both alive and unaliased until the call returns.
    let rc = unsafe {
        libc::ioctl(
            dev.as_raw_fd(),
            SNP_GET_REPORT as _,
            &mut ioctl_arg as *mut GuestRequestIoctl,
        )
    };
    if rc < 0 {
        let err = std::io::Error::last_os_error();
        return Err(AttestError::Unavailable(format!(
            "SNP_GET_REPORT failed: {err} (firmware error 0x{:x}, VMM error 0x{:x})",
            ioctl_arg.exitinfo2 & 0xffff_ffff,
            ioctl_arg.exitinfo2 >> 32
        )));
    }
    report_from_response(&resp)
}

impl Platform for SnpPlatform {
    fn format(&self) -> Format {
        Format::AmdSevSnpV1
    }

    fn quote(&self, report_data: &ReportData) -> Result<Evidence, AttestError> {
        let quote = get_report(report_data, self.vmpl)?;
        let endorsements = std::fs::read(&self.endorsements_file).map_err(|e| {
            AttestError::Unavailable(format!(
                "SEV-SNP endorsements {}: {e}",
                self.endorsements_file.display()
            ))
        })?;
        Ok(Evidence {
            format: Format::AmdSevSnpV1,
            quote,
            endorsements,
        })
    }
}

#[cfg(test)]
#[path = "device_test.rs"]
mod device_test;
