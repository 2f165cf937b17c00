//! State at past blocks on a real node: `balanceOf` (an `eth_call`) and the account reads
//! at each of 20 past blocks answer with the values recorded when those blocks were
//! produced, by number and by EIP-1898 block hash; a block that has left the node's
//! history window gets the documented error, while later ones still answer.

use crate::{common::eth::*, eth_rpc::eth_node_with};
use alloy_consensus::TxLegacy;
use alloy_primitives::{Address, Bytes as ABytes, TxKind, B256, U256};
use secp256k1::SecretKey;
use serde_json::{json, Value};

const TOKEN: &str = include_str!("../../assets/erc20_token.hex");
const WINDOW: u64 = 150;

fn legacy(nonce: u64, to: TxKind, input: Vec<u8>) -> TxLegacy {
    TxLegacy {
        chain_id: Some(4242),
        nonce,
        gas_price: 0,
        gas_limit: 3_000_000,
        to,
        value: U256::ZERO,
        input: ABytes::from(input),
    }
}

fn call_data(selector: &str, args: &[B256]) -> Vec<u8> {
    let mut d = hex::decode(selector).unwrap();
    for a in args {
        d.extend_from_slice(a.as_slice());
    }
    d
}

fn word(a: Address) -> B256 {
    B256::left_padding_from(a.as_slice())
}

#[tokio::test(flavor = "multi_thread")]
async fn state_at_each_past_block_is_as_it_was_within_the_window() {
    let node = eth_node_with(json!({"history_window": WINDOW})).await;
    let rpc = &node.rpc;
    let alice = SecretKey::from_slice(&[7u8; 32]).unwrap();
    let bob = address(&SecretKey::from_slice(&[8u8; 32]).unwrap());
    let mut create = hex::decode(TOKEN.trim()).unwrap();
    create.extend_from_slice(&U256::from(10u128.pow(30)).to_be_bytes::<32>());
    let h = rpc
        .call(
            "eth_sendRawTransaction",
            json!([sign(&alice, legacy(0, TxKind::Create, create))]),
        )
        .await;
    let deployed = rpc.receipt(&h).await;
    let token: Address = serde_json::from_value(deployed["contractAddress"].clone()).unwrap();
    let before_deploy = format!(
        "{:#x}",
        u64::from_str_radix(&deployed["blockNumber"].as_str().unwrap()[2..], 16).unwrap() - 1
    );
    let balance_of = |who: Address| json!({"to": token, "data": ABytes::from(call_data("70a08231", &[word(who)]))});

    // 20 transfers, each in its own block; what each block left, read at once.
    let mut seen: Vec<(String, Value, Value, Value)> = Vec::new();
    let mut nonce = 1;
    for i in 0..20u64 {
        let amount = B256::from(U256::from(1000 + i));
        let t = sign(
            &alice,
            legacy(
                nonce,
                TxKind::Call(token),
                call_data("a9059cbb", &[word(bob), amount]),
            ),
        );
        nonce += 1;
        let r = rpc
            .receipt(&rpc.call("eth_sendRawTransaction", json!([t])).await)
            .await;
        assert_eq!(r["status"], "0x1", "{r}");
        let balance = rpc
            .call("eth_call", json!([balance_of(bob), "latest"]))
            .await;
        let count = rpc
            .call(
                "eth_getTransactionCount",
                json!([address(&alice), "latest"]),
            )
            .await;
        let block = r["blockNumber"].as_str().unwrap().to_string();
        seen.push((block, r["blockHash"].clone(), balance, count));
    }
    // Each past block answers as it was, by number and by hash; at a block before the
    // token existed, its code is empty and a call to it returns nothing.
    let mut last = U256::ZERO;
    for (block, hash, balance, count) in &seen {
        let at_number = rpc.call("eth_call", json!([balance_of(bob), block])).await;
        assert_eq!(&at_number, balance, "balanceOf at block {block}");
        let at_hash = rpc
            .call("eth_call", json!([balance_of(bob), {"blockHash": hash}]))
            .await;
        assert_eq!(&at_hash, balance, "balanceOf at block hash {hash}");
        assert_eq!(
            &rpc.call("eth_getTransactionCount", json!([address(&alice), block]))
                .await,
            count,
            "nonce at {block}"
        );
        let b = U256::from_str_radix(&balance.as_str().unwrap()[2..], 16).unwrap();
        assert!(b > last, "balances grow block by block");
        last = b;
    }
    assert_eq!(
        rpc.call("eth_getCode", json!([token, before_deploy])).await,
        "0x"
    );
    assert_ne!(
        rpc.call("eth_getCode", json!([token, seen[0].0])).await,
        "0x"
    );
    assert_eq!(
        rpc.call("eth_call", json!([balance_of(bob), before_deploy]))
            .await,
        "0x"
    );

    // Move on until the first transfer's block has left the window.
    let first = u64::from_str_radix(&seen[0].0[2..], 16).unwrap();
    while rpc
        .call("eth_blockNumber", json!([]))
        .await
        .as_str()
        .map(|s| u64::from_str_radix(&s[2..], 16).unwrap())
        .unwrap()
        < first + WINDOW + 5
    {
        let t = sign(&alice, legacy(nonce, TxKind::Call(bob), Vec::new()));
        nonce += 1;
        rpc.receipt(&rpc.call("eth_sendRawTransaction", json!([t])).await)
            .await;
    }
    let (code, message) = rpc
        .error("eth_call", json!([balance_of(bob), seen[0].0]))
        .await;
    assert_eq!(code, -32000);
    assert!(
        message.starts_with(&format!(
            "state at block {first} is not kept by this node (outside its history window"
        )),
        "{message}"
    );
    let (code, _) = rpc
        .error("eth_getBalance", json!([bob, {"blockHash": seen[0].1}]))
        .await;
    assert_eq!(code, -32000);
    // The latest still answers, and so does a block inside the window.
    let latest = rpc
        .call("eth_call", json!([balance_of(bob), "latest"]))
        .await;
    assert_eq!(latest, seen[19].2);
    let recent = rpc.call("eth_blockNumber", json!([])).await;
    let recent = format!(
        "{:#x}",
        u64::from_str_radix(&recent.as_str().unwrap()[2..], 16).unwrap() - 3
    );
    assert_eq!(
        rpc.call("eth_call", json!([balance_of(bob), recent])).await,
        seen[19].2
    );
}
