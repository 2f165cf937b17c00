use alloy_primitives::{keccak256, U256};

use super::*;

fn selector(sig: &str) -> String {
    hex::encode(&keccak256(sig.as_bytes())[..4])
}

#[test]
fn selectors_are_the_functions_called() {
    for (hex, sig) in [
        ("a9059cbb", "transfer(address,uint256)"),
        ("095ea7b3", "approve(address,uint256)"),
        ("c9c65396", "createPair(address,address)"),
        ("6a627842", "mint(address)"),
        ("0902f1ac", "getReserves()"),
        (
            "38ed1739",
            "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)",
        ),
    ] {
        assert_eq!(selector(sig), hex, "{sig}");
    }
}

fn uniswap() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js/node_modules/@uniswap")
}

fn chain() -> consort_evm::Chain {
    consort_evm::Chain {
        chain_id: CHAIN,
        ..Default::default()
    }
}

fn no_hashes(_: u64) -> Option<alloy_primitives::B256> {
    None
}

/// The next block of `store`.
fn block<'a>(
    store: &consort_kv::Store,
    chain: &'a consort_evm::Chain,
) -> consort_evm::BlockCtx<'a> {
    consort_evm::BlockCtx {
        chain,
        number: store.version() + 1,
        timestamp: 1,
        hashes: &no_hashes,
        earlier: None,
    }
}

/// Run `w` in-process: every setup and timed transaction succeeds; returns the store.
fn execute(w: &Workload) -> consort_kv::Store {
    let store = consort_kv::Store::new();
    let chain = chain();
    let per = w.transfers[0].len();
    let timed = (0..per).flat_map(|j| w.transfers.iter().map(move |s| &s[j]));
    for raw in w.setup.iter().chain(timed) {
        let mut tx = store.begin();
        let b = block(&store, &chain);
        let r = consort_evm::send_raw(&mut tx, &b, raw).expect("valid transaction");
        assert!(r.status, "transaction {} reverted", r.transaction_hash);
        store.commit(tx, |_| Ok::<_, String>(())).expect("commit");
    }
    store
}

#[test]
fn swaps_run_on_uniswaps_unmodified_build() {
    let w = workload(3, 4, &Kind::Swaps { uniswap: uniswap() })
        .expect("the npm packages are installed (scripts/test.sh runs npm ci)");
    assert_eq!(w.what, "swaps");
    // 9 deployments and liquidity, 2 fundings and 2 approvals per sender.
    assert_eq!(w.setup.len(), 9 + 4 * 3);
    let store = execute(&w);
    let Check::KGrows { pair, k } = w.check else {
        panic!("swaps check the pair")
    };
    let mut tx = store.begin();
    let chain = chain();
    let b = block(&store, &chain);
    let req = consort_evm::CallRequest {
        from: None,
        to: Some(pair),
        data: hex::decode("0902f1ac").expect("hex").into(),
        value: U256::ZERO,
        gas: None,
        access_list: Default::default(),
    };
    let auditor = consort_evm::visibility::Viewer {
        identity: None,
        auditor: true,
        relayer: false,
    };
    let r = consort_evm::call(&mut tx, &b, &req, &auditor).expect("getReserves");
    assert!(r.success);
    let r0 = U256::from_be_slice(&r.output[..32]);
    let r1 = U256::from_be_slice(&r.output[32..64]);
    assert!(
        r0 * r1 > k,
        "every swap pays a fee into the pair's reserves"
    );
    assert_ne!(r0, r1, "swaps moved the price");
}

#[test]
fn a_pair_build_other_than_routers_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    for pkg in ["v2-core", "v2-periphery"] {
        std::fs::create_dir_all(dir.path().join(pkg).join("build")).expect("dir");
    }
    for (pkg, name) in [("v2-core", "ERC20"), ("v2-core", "UniswapV2Pair")] {
        let code = if name == "UniswapV2Pair" {
            "6000"
        } else {
            "00"
        };
        let p = dir
            .path()
            .join(pkg)
            .join("build")
            .join(format!("{name}.json"));
        std::fs::write(p, format!("{{\"bytecode\": \"{code}\"}}")).expect("write");
    }
    let e = workload(
        1,
        1,
        &Kind::Swaps {
            uniswap: dir.path().into(),
        },
    )
    .err()
    .expect("refused");
    assert!(e.to_string().contains("init-code hash"), "{e}");
    let e = workload(
        1,
        1,
        &Kind::Swaps {
            uniswap: "/nonexistent".into(),
        },
    )
    .err()
    .expect("refused");
    assert!(format!("{e:#}").contains("scripts/test.sh"), "{e:#}");
}

#[test]
fn transfers_fund_every_sender_and_hot_ones_share_a_recipient() {
    let w = workload(4, 3, &Kind::Transfers { hot: true }).expect("workload");
    assert_eq!(w.setup.len(), 5);
    assert_eq!(w.hashes().len(), 12);
    execute(&w);
}
