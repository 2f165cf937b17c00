//! What `consort bench --eth` sends, signed before the clock starts: ERC-20 transfers to
//! fresh recipients (the default), to one hot recipient (`--hot-recipient`), or swaps on one
//! Uniswap V2 pair (`--swaps`).
//!
//! The token is OpenZeppelin 5.4.0's ERC20 (MIT), `crates/consort/tests/js/contracts/Token.sol`
//! compiled by solc 0.8.30 (optimizer, 200 runs) into `assets/erc20_token.hex`; a test
//! checks the file against a fresh compilation. The swaps use Uniswap's own npm builds
//! (`@uniswap/v2-core` 1.0.1 and `@uniswap/v2-periphery` 1.1.0-beta.0, GPL-3.0, read from
//! `node_modules` at run time, unmodified): their test ERC20 twice, WETH9, the factory, the
//! pair it creates and Router02. The router finds the pair by the init-code hash it was
//! built with, so the pair's bytecode must be that build's (checked before the run).

use std::path::{Path, PathBuf};

use alloy_consensus::{SignableTransaction, TxEnvelope, TxLegacy};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{keccak256, Address, Bytes as ABytes, Signature, TxKind, B256, U256};
use anyhow::{bail, Context, Result};
use secp256k1::{Message, SecretKey, SECP256K1};

pub(super) const CHAIN: u64 = 1337;
const TOKEN: &str = include_str!("../../assets/erc20_token.hex");
/// The init-code hash Router02 (through `UniswapV2Library.pairFor`) was built with.
const PAIR_INIT_CODE_HASH: &str =
    "96e8ac4277198ff8b6f785478aa9a39f403cb768dd02cbee326c3e7da348845f";
/// Where `scripts/test.sh` (`npm ci`) installs the Uniswap packages.
pub(super) const UNISWAP_DEFAULT: &str = "crates/consort/tests/js/node_modules/@uniswap";

/// Which transactions the run times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kind {
    Transfers { hot: bool },
    Swaps { uniswap: PathBuf },
}

/// How a finished run is checked (beyond every timed transaction's receipt).
pub(super) enum Check {
    /// `holder`'s balance of `token` is `expected` (the funding went through).
    Balance {
        token: Address,
        holder: Address,
        expected: U256,
    },
    /// The pair's reserves multiply to more than `k` (fees grow it with every swap).
    KGrows { pair: Address, k: U256 },
}

/// Everything the benchmark sends, signed in advance.
pub(super) struct Workload {
    /// The deployer's and every sender's key (their addresses are bound to the bench user).
    pub(super) keys: Vec<SecretKey>,
    /// Deployments and funding (in order; a sender's own setup comes before its timed
    /// transactions in its nonces).
    pub(super) setup: Vec<Vec<u8>>,
    /// Per sender, its timed transactions in nonce order.
    pub(super) transfers: Vec<Vec<Vec<u8>>>,
    pub(super) check: Check,
    /// What one timed transaction is ("transfers", "swaps").
    pub(super) what: &'static str,
}

impl Workload {
    /// The timed transactions' hashes.
    pub(super) fn hashes(&self) -> Vec<B256> {
        self.transfers.iter().flatten().map(keccak256).collect()
    }

    pub(super) fn setup_hashes(&self) -> Vec<B256> {
        self.setup.iter().map(keccak256).collect()
    }
}

pub(super) fn key(label: &str) -> SecretKey {
    let mut h = keccak256(label.as_bytes());
    loop {
        if let Ok(k) = SecretKey::from_slice(h.as_slice()) {
            return k;
        }
        h = keccak256(h);
    }
}

pub(super) fn address(k: &SecretKey) -> Address {
    let pk = k.public_key(SECP256K1).serialize_uncompressed();
    Address::from_slice(&keccak256(&pk[1..])[12..])
}

fn sign(k: &SecretKey, tx: TxLegacy) -> Vec<u8> {
    let h = tx.signature_hash();
    let sig = SECP256K1.sign_ecdsa_recoverable(&Message::from_digest(h.0), k);
    let (id, bytes) = sig.serialize_compact();
    let env: TxEnvelope = tx
        .into_signed(Signature::from_bytes_and_parity(&bytes, i32::from(id) != 0))
        .into();
    env.encoded_2718()
}

fn legacy(nonce: u64, to: TxKind, gas: u64, input: Vec<u8>) -> TxLegacy {
    TxLegacy {
        chain_id: Some(CHAIN),
        nonce,
        gas_price: 0,
        gas_limit: gas,
        to,
        value: U256::ZERO,
        input: ABytes::from(input),
    }
}

/// `head` followed by 32-byte ABI words (call data after a selector, constructor
/// arguments after creation code).
fn with_words(mut head: Vec<u8>, words: &[B256]) -> Vec<u8> {
    for w in words {
        head.extend_from_slice(w.as_slice());
    }
    head
}

/// ABI call data: a selector and static 32-byte words.
fn call(selector: &str, words: &[B256]) -> Vec<u8> {
    with_words(hex::decode(selector).expect("selector"), words)
}

fn word_a(a: Address) -> B256 {
    B256::left_padding_from(a.as_slice())
}

fn word_u(v: U256) -> B256 {
    B256::from(v.to_be_bytes::<32>())
}

fn transfer_data(to: Address, amount: U256) -> Vec<u8> {
    call("a9059cbb", &[word_a(to), word_u(amount)])
}

/// Each sender's timed transactions, signed on every core: `make(sender, j)` for
/// `j in 0..per_sender`.
fn sign_all(
    keys: &[SecretKey],
    per_sender: usize,
    make: &(dyn Fn(usize, usize) -> TxLegacy + Sync),
) -> Vec<Vec<Vec<u8>>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut out: Vec<Vec<Vec<u8>>> = vec![Vec::new(); keys.len()];
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (t..keys.len())
                        .step_by(threads)
                        .map(|i| {
                            let txs = (0..per_sender)
                                .map(|j| sign(&keys[i], make(i, j)))
                                .collect();
                            (i, txs)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in hs {
            for (i, txs) in h.join().expect("signer") {
                out[i] = txs;
            }
        }
    });
    out
}

pub(super) fn workload(senders: usize, per_sender: usize, kind: &Kind) -> Result<Workload> {
    match kind {
        Kind::Transfers { hot } => Ok(transfers(senders, per_sender, *hot)),
        Kind::Swaps { uniswap } => swaps(senders, per_sender, uniswap),
    }
}

fn deployer_and_senders(senders: usize) -> (SecretKey, Address, Vec<SecretKey>) {
    let deployer_key = key("consort bench deployer");
    let deployer = address(&deployer_key);
    let keys = (0..senders)
        .map(|i| key(&format!("consort bench sender {i}")))
        .collect();
    (deployer_key, deployer, keys)
}

/// `hot`: every transfer goes to one recipient (each writes its balance slot), as a DEX
/// pair's reserves or a popular holder are written by every transaction.
fn transfers(senders: usize, per_sender: usize, hot: bool) -> Workload {
    let (deployer_key, deployer, keys) = deployer_and_senders(senders);
    let create = with_words(
        hex::decode(TOKEN.trim()).expect("token bytecode"),
        &[word_u(U256::from(10u128.pow(30)))],
    );
    let token = deployer.create(0);
    let fund = U256::from(1_000_000u64);
    let mut setup = vec![sign(
        &deployer_key,
        legacy(0, TxKind::Create, 3_000_000, create),
    )];
    for (i, k) in keys.iter().enumerate() {
        let data = transfer_data(address(k), fund);
        setup.push(sign(
            &deployer_key,
            legacy(i as u64 + 1, TxKind::Call(token), 100_000, data),
        ));
    }
    let make = |i: usize, j: usize| {
        let name = if hot {
            "hot recipient".to_string()
        } else {
            format!("recipient {i} {j}")
        };
        let to = Address::from_slice(&keccak256(name)[12..]);
        legacy(
            j as u64,
            TxKind::Call(token),
            100_000,
            transfer_data(to, U256::from(1)),
        )
    };
    let transfers = sign_all(&keys, per_sender, &make);
    Workload {
        check: Check::Balance {
            token,
            holder: deployer,
            expected: U256::from(10u128.pow(30)) - fund * U256::from(senders),
        },
        keys: std::iter::once(deployer_key).chain(keys).collect(),
        setup,
        transfers,
        what: "transfers",
    }
}

/// The creation bytecode of a Uniswap npm build artifact (`package/build/NAME.json`).
pub(super) fn artifact(uniswap: &Path, package: &str, name: &str) -> Result<Vec<u8>> {
    let p = uniswap
        .join(package)
        .join("build")
        .join(format!("{name}.json"));
    let j: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&p).with_context(|| {
            format!(
                "cannot read {} (run scripts/test.sh once to install the npm packages, or pass --uniswap DIR)",
                p.display()
            )
        })?,
    )
    .with_context(|| format!("{} is not JSON", p.display()))?;
    let code = j["bytecode"]
        .as_str()
        .with_context(|| format!("{} has no bytecode", p.display()))?;
    hex::decode(code.trim_start_matches("0x"))
        .with_context(|| format!("bytecode of {}", p.display()))
}

/// Swaps through Router02 on one pair of two test tokens: the pair's reserves are written
/// by every swap. Senders alternate directions (A→B, B→A) so reserves stay balanced.
fn swaps(senders: usize, per_sender: usize, uniswap: &Path) -> Result<Workload> {
    let erc20 = artifact(uniswap, "v2-core", "ERC20")?;
    let pair_code = artifact(uniswap, "v2-core", "UniswapV2Pair")?;
    if hex::encode(keccak256(&pair_code)) != PAIR_INIT_CODE_HASH {
        bail!("the UniswapV2Pair build under {} is not the one Router02 was built for (its init-code hash differs)", uniswap.display());
    }
    let weth = artifact(uniswap, "v2-periphery", "WETH9")?;
    let factory_code = artifact(uniswap, "v2-core", "UniswapV2Factory")?;
    let router_code = artifact(uniswap, "v2-periphery", "UniswapV2Router02")?;
    let (dk, deployer, keys) = deployer_and_senders(senders);
    let supply = U256::from(10u128.pow(30));
    let (a, b) = (deployer.create(0), deployer.create(1));
    let (weth_at, factory, router) = (deployer.create(2), deployer.create(3), deployer.create(4));
    let (t0, t1) = if a < b { (a, b) } else { (b, a) };
    let mut salt = Vec::with_capacity(40);
    salt.extend_from_slice(t0.as_slice());
    salt.extend_from_slice(t1.as_slice());
    let pair = factory.create2(
        keccak256(&salt),
        B256::from_slice(&hex::decode(PAIR_INIT_CODE_HASH)?),
    );
    let liquidity = U256::from(10u128.pow(26));
    let fund = U256::from(10u128.pow(22));
    let create = TxKind::Create;
    let mut deploy = vec![
        legacy(
            0,
            create,
            2_000_000,
            with_words(erc20.clone(), &[word_u(supply)]),
        ),
        legacy(1, create, 2_000_000, with_words(erc20, &[word_u(supply)])),
        legacy(2, create, 2_000_000, weth),
        legacy(
            3,
            create,
            6_000_000,
            with_words(factory_code, &[word_a(deployer)]),
        ),
        legacy(
            4,
            create,
            6_000_000,
            with_words(router_code, &[word_a(factory), word_a(weth_at)]),
        ),
        legacy(
            5,
            TxKind::Call(factory),
            3_000_000,
            call("c9c65396", &[word_a(a), word_a(b)]),
        ),
        legacy(6, TxKind::Call(a), 100_000, transfer_data(pair, liquidity)),
        legacy(7, TxKind::Call(b), 100_000, transfer_data(pair, liquidity)),
        legacy(
            8,
            TxKind::Call(pair),
            300_000,
            call("6a627842", &[word_a(deployer)]),
        ),
    ];
    for k in &keys {
        for t in [a, b] {
            let n = deploy.len() as u64;
            deploy.push(legacy(
                n,
                TxKind::Call(t),
                100_000,
                transfer_data(address(k), fund),
            ));
        }
    }
    let mut setup: Vec<Vec<u8>> = deploy.into_iter().map(|t| sign(&dk, t)).collect();
    let approve = call("095ea7b3", &[word_a(router), word_u(U256::MAX)]);
    for k in &keys {
        for (n, t) in [a, b].into_iter().enumerate() {
            setup.push(sign(
                k,
                legacy(n as u64, TxKind::Call(t), 100_000, approve.clone()),
            ));
        }
    }
    let addrs: Vec<Address> = keys.iter().map(address).collect();
    let make = |i: usize, j: usize| {
        let path = if (i + j) % 2 == 0 { [a, b] } else { [b, a] };
        legacy(
            j as u64 + 2,
            TxKind::Call(router),
            250_000,
            swap_data(U256::from(10u128.pow(18)), path, addrs[i]),
        )
    };
    let transfers = sign_all(&keys, per_sender, &make);
    Ok(Workload {
        check: Check::KGrows {
            pair,
            k: liquidity * liquidity,
        },
        keys: std::iter::once(dk).chain(keys).collect(),
        setup,
        transfers,
        what: "swaps",
    })
}

/// `swapExactTokensForTokens(amountIn, 0, path, to, deadline)`: the dynamic `path` array
/// after the five head words.
fn swap_data(amount_in: U256, path: [Address; 2], to: Address) -> Vec<u8> {
    let deadline = U256::from(u64::MAX);
    call(
        "38ed1739",
        &[
            word_u(amount_in),
            word_u(U256::ZERO),
            word_u(U256::from(0xa0)),
            word_a(to),
            word_u(deadline),
            word_u(U256::from(2)),
            word_a(path[0]),
            word_a(path[1]),
        ],
    )
}

#[cfg(test)]
#[path = "eth_work_test.rs"]
mod eth_work_test;
