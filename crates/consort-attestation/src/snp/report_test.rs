use super::*;

fn real(f: &str) -> Vec<u8> {
    std::fs::read(format!("{}/testdata/snp/{f}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// A synthetic (unsigned) version 5 report with every field set to something distinct.
fn synthetic_v5() -> Vec<u8> {
    let mut b = vec![0u8; REPORT_LEN];
    let mut put = |off: usize, bytes: &[u8]| b[off..off + bytes.len()].copy_from_slice(bytes);
    put(0x00, &5u32.to_le_bytes());
    put(0x04, &7u32.to_le_bytes());
    put(0x08, &0x3_0000u64.to_le_bytes());
    put(0x10, &[0x11; 16]);
    put(0x20, &[0x22; 16]);
    put(0x30, &1u32.to_le_bytes());
    put(0x34, &1u32.to_le_bytes());
    put(0x38, &[1, 2, 3, 4, 0, 0, 0, 0x44]);
    put(0x40, &0x25u64.to_le_bytes());
    put(0x48, &3u32.to_le_bytes()); // author_key_en, mask_chip_key, VCEK
    put(0x50, &[0x50; 64]);
    put(0x90, &[0x90; 48]);
    put(0xC0, &[0xC0; 32]);
    put(0xE0, &[0xE0; 48]);
    put(0x110, &[0x11; 48]);
    put(0x140, &[0x14; 32]);
    put(0x160, &[0x16; 32]);
    put(0x180, &[5, 6, 7, 8, 0, 0, 0, 0x55]);
    put(0x188, &[0x1A, 0x02, 0x01]);
    put(0x1A0, &[0xA1; 8]);
    put(0x1E0, &[9, 9, 9, 9, 0, 0, 0, 9]);
    put(0x1E8, &[30, 55, 1]);
    put(0x1EC, &[29, 54, 1]);
    put(0x1F0, &[4, 4, 4, 4, 0, 0, 0, 4]);
    put(0x1F8, &0x0102_0304_0506_0708u64.to_le_bytes());
    put(0x200, &0x1112_1314_1516_1718u64.to_le_bytes());
    put(0x2A0, &[0xAB; 48]);
    put(0x2E8, &[0xCD; 48]);
    b
}

#[test]
fn every_field_of_a_v5_report() {
    let r = Report::parse(&synthetic_v5()).unwrap();
    assert_eq!((r.version, r.guest_svn, r.policy), (5, 7, 0x3_0000));
    assert_eq!((r.family_id, r.image_id), ([0x11; 16], [0x22; 16]));
    assert_eq!((r.vmpl, r.signature_algo), (1, 1));
    assert_eq!(r.current_tcb, [1, 2, 3, 4, 0, 0, 0, 0x44]);
    assert_eq!((r.platform_info, r.key_info), (0x25, 3));
    assert!(r.author_key_en() && r.mask_chip_key());
    assert_eq!(r.signing_key(), 0);
    assert_eq!(r.report_data, [0x50; 64]);
    assert_eq!(r.measurement, [0x90; 48]);
    assert_eq!(r.host_data, [0xC0; 32]);
    assert_eq!(r.id_key_digest, [0xE0; 48]);
    assert_eq!(r.author_key_digest, [0x11; 48]);
    assert_eq!((r.report_id, r.report_id_ma), ([0x14; 32], [0x16; 32]));
    assert_eq!(r.reported_tcb, [5, 6, 7, 8, 0, 0, 0, 0x55]);
    let cpuid = r.cpuid.unwrap();
    assert_eq!(
        (cpuid.family, cpuid.model, cpuid.stepping),
        (0x1A, 0x02, 0x01)
    );
    assert_eq!(cpuid.to_hex(), "00b00f21");
    assert_eq!(&r.chip_id[..8], &[0xA1; 8]);
    assert_eq!(r.committed_tcb, [9, 9, 9, 9, 0, 0, 0, 9]);
    assert_eq!(r.current_version.to_string(), "1.55.30");
    assert_eq!(r.committed_version.to_string(), "1.54.29");
    assert_eq!(r.launch_tcb, [4, 4, 4, 4, 0, 0, 0, 4]);
    assert_eq!(r.launch_mit_vector, Some(0x0102_0304_0506_0708));
    assert_eq!(r.current_mit_vector, Some(0x1112_1314_1516_1718));
    let sig = r.signature_fixed();
    assert_eq!((&sig[..48], &sig[48..]), (&[0xAB; 48][..], &[0xCD; 48][..]));
}

#[test]
fn versions_before_5_have_no_mitigation_vectors_and_v2_no_cpuid() {
    let v2 = Report::parse(&real("report_milan.bin")).unwrap();
    assert_eq!(
        (v2.version, v2.cpuid, v2.launch_mit_vector),
        (2, None, None)
    );
    assert_eq!(v2.reported_tcb, [3, 0, 0, 0, 0, 0, 8, 0x73]);
    let v3 = Report::parse(&real("ccf_milan_v3.bin")).unwrap();
    assert_eq!(v3.version, 3);
    assert_eq!(v3.cpuid.map(Cpuid::to_hex).as_deref(), Some("00a00f11"));
    assert_eq!(v3.current_mit_vector, None);
    // A v5 report whose mitigation vectors are set reads as v3 only with them zeroed.
    let mut b = synthetic_v5();
    b[0] = 3;
    assert!(matches!(Report::parse(&b), Err(SnpError::Parse(_))));
}

#[test]
fn the_signature_is_reversed_into_big_endian() {
    let mut b = synthetic_v5();
    for i in 0..48 {
        b[0x2A0 + i] = i as u8;
        b[0x2E8 + i] = 100 + i as u8;
    }
    let sig = Report::parse(&b).unwrap().signature_fixed();
    assert_eq!((sig[0], sig[47], sig[48], sig[95]), (47, 0, 147, 100));
}

#[test]
fn wrong_sizes_and_versions_are_refused() {
    let b = synthetic_v5();
    for len in [0, 1, REPORT_LEN - 1, REPORT_LEN + 1, 4000] {
        let mut short = b.clone();
        short.resize(len, 0);
        let e = Report::parse(&short).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("report parse failed: a report is 1184 bytes"),
            "{e}"
        );
    }
    for v in [0u32, 1, 4, 6, 0xffff_ffff] {
        let mut other = b.clone();
        other[..4].copy_from_slice(&v.to_le_bytes());
        let e = Report::parse(&other).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("unsupported report version {v} (supported: 2, 3, 5)")
        );
    }
}

#[test]
fn only_ecdsa_p384_and_the_vcek_are_accepted() {
    let mut b = synthetic_v5();
    b[0x34] = 2;
    assert_eq!(
        Report::parse(&b).unwrap_err(),
        SnpError::SignatureAlgorithm(2)
    );
    let mut b = synthetic_v5();
    b[0x48] = 1 << 2; // signing_key = 1: VLEK
    let e = Report::parse(&b).unwrap_err();
    assert!(e.to_string().contains("VLEK"), "{e}");
    assert!(e.to_string().starts_with("signing key check failed"), "{e}");
}

#[test]
fn reserved_bytes_and_wide_signatures_are_refused() {
    for version in [2u32, 3, 5] {
        for (off, len) in reserved_ranges(version) {
            let mut b = synthetic_v5();
            b[..4].copy_from_slice(&version.to_le_bytes());
            if version < 5 {
                b[0x1F8..0x208].fill(0);
            }
            if version < 3 {
                b[0x188..0x18B].fill(0);
            }
            assert!(Report::parse(&b).is_ok(), "v{version}");
            b[off + len - 1] = 1;
            let e = Report::parse(&b).unwrap_err();
            assert!(
                e.to_string().contains("reserved bytes"),
                "v{version} 0x{off:x}: {e}"
            );
        }
    }
    let mut b = synthetic_v5();
    b[0x2A0 + 50] = 1;
    let e = Report::parse(&b).unwrap_err();
    assert!(e.to_string().contains("signature r is wider"), "{e}");
}

#[test]
fn cpuid_strings_are_ccfs() {
    let hex = |family, model, stepping| {
        Cpuid {
            family,
            model,
            stepping,
        }
        .to_hex()
    };
    assert_eq!(hex(0x19, 0x01, 0x1), "00a00f11"); // Milan
    assert_eq!(hex(0x19, 0x11, 0x1), "00a10f11"); // Genoa
    assert_eq!(hex(0x1A, 0x02, 0x1), "00b00f21"); // Turin
    assert_eq!(hex(0x06, 0x55, 0x4), "00050654"); // family < 0xf: no extended family
    for (f, m, s) in [(0x19, 0x01, 1), (0x19, 0x11, 1), (0x1A, 0x02, 1)] {
        assert_eq!(crate::Product::parse_cpuid(&hex(f, m, s)), Some((f, m, s)));
    }
}

#[test]
fn the_field_table_covers_the_signed_bytes_with_the_reserved_ranges() {
    let mut covered = vec![0u8; REPORT_LEN];
    for &(_, off, len) in FIELDS {
        covered[off..off + len].iter_mut().for_each(|c| *c += 1);
    }
    for (off, len) in reserved_ranges(5) {
        covered[off..off + len].iter_mut().for_each(|c| *c += 1);
    }
    assert!(covered.iter().all(|&c| c == 1), "{covered:?}");
}
