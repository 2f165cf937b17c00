use super::*;
use crate::Format;

fn claims(format: Format) -> Claims {
    Claims::basic(format, "aa".into(), "bb".into(), String::new())
}

fn policy() -> Policy {
    Policy {
        measurements: ["aa".to_string()].into(),
        measurements_table: "public:ccf.gov.nodes.virtual.measurements".into(),
        host_data: ["bb".to_string()].into(),
        host_data_table: "public:ccf.gov.nodes.virtual.host_data".into(),
        tcb_table: "public:ccf.gov.nodes.snp.tcb_versions".into(),
        ..Default::default()
    }
}

#[test]
fn allowed_claims_pass_and_each_refusal_names_its_table() {
    let c = claims(Format::InsecureVirtual);
    check(&c, &policy()).unwrap();
    let mut m = c.clone();
    m.measurement = "cc".into();
    let e = check(&m, &policy()).unwrap_err().to_string();
    assert_eq!(
        e,
        "measurement cc is not in public:ccf.gov.nodes.virtual.measurements"
    );
    let mut h = c.clone();
    h.host_data = "dd".into();
    let e = check(&h, &policy()).unwrap_err().to_string();
    assert_eq!(
        e,
        "host data dd is not in public:ccf.gov.nodes.virtual.host_data"
    );
    let mut p = policy();
    p.require_hardware = true;
    let e = check(&c, &p).unwrap_err().to_string();
    assert!(e.contains("hardware attestation required"), "{e}");
}

#[test]
fn the_minimum_tcb_is_per_cpuid_and_component_wise() {
    // Milan (family 19h, model 01h, stepping 1), TCB hex as CCF writes it.
    let milan = Product::Milan;
    let reported = TcbPolicy::from_hex("d315000000000004", milan).unwrap();
    assert_eq!(reported.microcode, Some(0xd3));
    assert_eq!(reported.snp, Some(0x15));
    assert_eq!(reported.boot_loader, Some(4));
    let mut c = claims(Format::AmdSevSnpV1);
    c.insecure = false;
    c.reported_tcb = Some(reported);
    c.cpuid = Some("00a00f11".into());
    c.product = Some(milan);
    let mut p = policy();
    let e = check(&c, &p).unwrap_err().to_string();
    assert!(
        e.contains("no minimum TCB version for CPUID 00a00f11"),
        "{e}"
    );
    p.min_tcb.insert(
        "00a00f11".into(),
        TcbPolicy::from_hex("d315000000000004", milan).unwrap(),
    );
    check(&c, &p).unwrap();
    p.min_tcb.insert(
        "00a00f11".into(),
        TcbPolicy::from_hex("d316000000000004", milan).unwrap(),
    );
    let e = check(&c, &p).unwrap_err().to_string();
    assert!(e.contains("is below the minimum"), "{e}");
    // A Genoa entry does not apply to a Milan chip.
    p.min_tcb.clear();
    p.min_tcb.insert(
        "00a10f11".into(),
        TcbPolicy::from_hex("0000000000000000", Product::Genoa).unwrap(),
    );
    assert!(check(&c, &p).is_err());
    // A version-2 report has no CPUID: every entry of its product applies.
    c.cpuid = None;
    p.min_tcb.insert(
        "00a00f10".into(),
        TcbPolicy::from_hex("d300000000000000", milan).unwrap(),
    );
    check(&c, &p).unwrap();
}

#[test]
fn cpuids_map_to_products_as_ccf_does() {
    let pm = |s: &str| {
        let (f, m, _) = Product::parse_cpuid(s).unwrap();
        Product::from_family_model(f, m)
    };
    assert_eq!(pm("00a00f11"), Some(Product::Milan));
    assert_eq!(pm("00a10f11"), Some(Product::Genoa));
    assert_eq!(pm("00b00f21"), Some(Product::Turin));
    assert_eq!(Product::parse_cpuid("00A00F11"), None);
    // Turin components sit at other offsets.
    let t = TcbPolicy::from_hex("1100000022334455", Product::Turin).unwrap();
    assert_eq!(
        (t.fmc, t.boot_loader, t.tee, t.snp, t.microcode),
        (Some(0x55), Some(0x44), Some(0x33), Some(0x22), Some(0x11))
    );
}
