use super::*;

fn code(n: usize, fill: u8) -> Vec<u8> {
    vec![fill; n]
}

#[test]
fn a_hit_is_the_loaded_code_without_loading_again() {
    let h = B256::repeat_byte(0xa1);
    let first = get_or_load(h, || Some(vec![0x60, 0x01, 0x5b, 0x00])).expect("loaded");
    let again = get_or_load(h, || panic!("loaded twice")).expect("cached");
    assert_eq!(first.original_byte_slice(), again.original_byte_slice());
    assert!(again.legacy_jump_table().expect("legacy").is_valid(2));
}

#[test]
fn a_miss_in_the_store_is_not_cached() {
    let h = B256::repeat_byte(0xa2);
    assert!(get_or_load(h, || None).is_none());
    assert!(get_or_load(h, || Some(vec![0x00])).is_some());
}

#[test]
fn generations_bound_the_bytes_and_keep_what_is_used() {
    let mut g = Generations::default();
    let big = GENERATION_BYTES / 4;
    let hot = B256::repeat_byte(1);
    g.insert(hot, Bytecode::new_raw(code(big, 0).into()));
    for i in 2..40u8 {
        g.insert(B256::repeat_byte(i), Bytecode::new_raw(code(big, 0).into()));
        assert!(g.get(&hot).is_some(), "a used entry survives ({i})");
        let held: usize = g
            .new
            .values()
            .chain(g.old.values())
            .map(|c| c.original_byte_slice().len())
            .sum();
        assert!(held <= 2 * GENERATION_BYTES + big, "{held} bytes held");
    }
    assert!(
        g.get(&B256::repeat_byte(2)).is_none(),
        "an unused one is dropped"
    );
}
