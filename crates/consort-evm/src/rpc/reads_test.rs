//! The block-indexed reads and the pool's content show the caller's view only.

use alloy_primitives::{keccak256, TxKind};
use serde_json::json;

use super::super::filters::filters_test::{hex, node, ok};
use crate::exec_test::legacy;

#[test]
fn block_reads_and_the_pool_show_only_what_the_caller_may_see() {
    let (h, alice, bob, key) = node();
    // A nonce ahead of alice's: it waits in the pool, listed for her only.
    let ahead = key.sign(legacy(1, TxKind::Call(key.address()), 1, Vec::new()));
    let ahead_hash = ok(&h, &alice, "eth_sendRawTransaction", json!([hex(&ahead)]));
    assert_eq!(
        ok(&h, &alice, "txpool_status", json!([])),
        json!({"pending": "0x0", "queued": "0x1"})
    );
    assert_eq!(
        ok(&h, &bob, "txpool_status", json!([])),
        json!({"pending": "0x0", "queued": "0x0"})
    );
    let mine = ok(&h, &alice, "txpool_content", json!([]));
    let sender = key.address().to_checksum(None);
    assert_eq!(mine["queued"][&sender]["1"]["hash"], ahead_hash, "{mine}");
    assert_eq!(mine["queued"][&sender]["1"]["blockNumber"], json!(null));
    assert_eq!(
        ok(&h, &bob, "txpool_content", json!([])),
        json!({"pending": {}, "queued": {}})
    );
    // The gap filled: both run, in one block, and the pool is empty.
    let first = key.sign(legacy(0, TxKind::Call(key.address()), 1, Vec::new()));
    let hash = ok(&h, &alice, "eth_sendRawTransaction", json!([hex(&first)]));
    let r = ok(&h, &alice, "eth_getTransactionReceipt", json!([hash]));
    let (n, block_hash) = (r["blockNumber"].clone(), r["blockHash"].clone());
    assert_eq!(
        ok(&h, &alice, "txpool_status", json!([])),
        json!({"pending": "0x0", "queued": "0x0"})
    );
    assert_eq!(
        ok(
            &h,
            &alice,
            "eth_getBlockTransactionCountByNumber",
            json!([n])
        ),
        "0x2"
    );
    assert_eq!(
        ok(
            &h,
            &alice,
            "eth_getBlockTransactionCountByHash",
            json!([block_hash])
        ),
        "0x2"
    );
    let second = ok(
        &h,
        &alice,
        "eth_getTransactionByBlockNumberAndIndex",
        json!([n, "0x1"]),
    );
    assert_eq!(second["hash"], ahead_hash);
    assert_eq!(second["transactionIndex"], "0x1");
    let receipts = ok(&h, &alice, "eth_getBlockReceipts", json!([n]));
    assert_eq!(receipts.as_array().unwrap().len(), 2);
    assert_eq!(receipts[0]["transactionHash"], hash);
    assert_eq!(
        ok(
            &h,
            &alice,
            "eth_getBlockReceipts",
            json!([{"blockHash": block_hash}])
        ),
        receipts
    );
    // bob sees the block, but none of alice's (private) transactions in it.
    assert_eq!(
        ok(&h, &bob, "eth_getBlockTransactionCountByNumber", json!([n])),
        "0x0"
    );
    assert_eq!(
        ok(
            &h,
            &bob,
            "eth_getTransactionByBlockHashAndIndex",
            json!([block_hash, "0x0"])
        ),
        json!(null)
    );
    assert_eq!(ok(&h, &bob, "eth_getBlockReceipts", json!([n])), json!([]));
    assert_eq!(
        ok(&h, &bob, "eth_getUncleCountByBlockNumber", json!([n])),
        "0x0"
    );
    // Blocks that do not exist: null, as geth answers.
    assert_eq!(
        ok(&h, &alice, "eth_getBlockReceipts", json!(["0xffffff"])),
        json!(null)
    );
    assert_eq!(
        ok(
            &h,
            &alice,
            "eth_getUncleCountByBlockHash",
            json!([format!("{}", keccak256(b"x"))])
        ),
        json!(null)
    );
    assert_eq!(
        ok(&h, &bob, "web3_sha3", json!(["0x68656c6c6f"])),
        json!(keccak256(b"hello"))
    );
    assert_eq!(ok(&h, &bob, "net_listening", json!([])), json!(true));
    let (code, message) = super::super::filters::filters_test::err(
        &h,
        &bob,
        "eth_getProof",
        json!([key.address(), [], "latest"]),
    );
    assert_eq!(code, -32601);
    assert!(
        message.contains("no Merkle-Patricia state root"),
        "{message}"
    );
}
