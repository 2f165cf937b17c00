//! Traces are shown only to callers who may see what they show.

use alloy_primitives::{Address, TxKind};
use serde_json::json;

use super::super::filters::filters_test::{err, hex, node, ok};
use crate::exec_test::{legacy, storage_contract};

#[test]
fn traces_show_only_what_the_caller_may_see() {
    let (h, alice, bob, key) = node();
    // alice deploys the storage contract (private by default) and stores a word in it.
    let deploy = key.sign(legacy(0, TxKind::Create, 0, storage_contract()));
    let hash = ok(&h, &alice, "eth_sendRawTransaction", json!([hex(&deploy)]));
    let receipt = ok(&h, &alice, "eth_getTransactionReceipt", json!([hash]));
    let c: Address = serde_json::from_value(receipt["contractAddress"].clone()).unwrap();
    let store = key.sign(legacy(1, TxKind::Call(c), 0, [0x5a; 32].to_vec()));
    let stored = ok(&h, &alice, "eth_sendRawTransaction", json!([hex(&store)]));
    // Its deployer gets the call trace (calls and their data: its own code's)…
    let calls = ok(
        &h,
        &alice,
        "debug_traceTransaction",
        json!([stored, {"tracer": "callTracer", "tracerConfig": {"withLog": true}}]),
    );
    assert_eq!(calls["to"], json!(c), "{calls}");
    assert_eq!(calls["type"], "CALL");
    assert_eq!(calls["input"], hex(&[0x5a; 32]));
    assert_eq!(calls["logs"][0]["data"], hex(&[0x5a; 32]));
    // …but not the struct log, which shows the private contract's storage (auditors').
    let (code, message) = err(&h, &alice, "debug_traceTransaction", json!([stored]));
    assert_eq!(code, -32000);
    assert!(
        message.contains("storage is visible to auditors only"),
        "{message}"
    );
    // bob may not see the transaction: it is unknown to him, as an unknown hash is.
    let unknown = err(
        &h,
        &bob,
        "debug_traceTransaction",
        json!([stored, {"tracer": "callTracer"}]),
    );
    assert_eq!(
        unknown,
        err(
            &h,
            &bob,
            "debug_traceTransaction",
            json!([format!("0x{}", "11".repeat(32))])
        )
    );
    assert_eq!(unknown.1, "transaction not found");
    // A call into alice's contract: bob may not see its calls; alice may.
    let (code, message) = err(
        &h,
        &bob,
        "debug_traceCall",
        json!([{"to": c}, "latest", {"tracer": "callTracer"}]),
    );
    assert_eq!(code, -32000);
    assert!(
        message.contains("code is visible to its deployer and auditors only"),
        "{message}"
    );
    let call = ok(
        &h,
        &alice,
        "debug_traceCall",
        json!([{"to": c}, "latest", {"tracer": "callTracer"}]),
    );
    assert_eq!(call["output"], hex(&[0x5a; 32]));
    // At the block before the store, the call returns what was there then: nothing.
    let before = format!(
        "{:#x}",
        u64::from_str_radix(&receipt["blockNumber"].as_str().unwrap()[2..], 16).unwrap()
    );
    let then = ok(
        &h,
        &alice,
        "debug_traceCall",
        json!([{"to": c}, before, {"tracer": "callTracer"}]),
    );
    assert_eq!(then["output"], hex(&[0u8; 32]));
    // A plain transfer runs no code: its struct log is empty, and shown to its sender.
    let pay = key.sign(legacy(
        2,
        TxKind::Call(Address::repeat_byte(9)),
        5,
        Vec::new(),
    ));
    let paid = ok(&h, &alice, "eth_sendRawTransaction", json!([hex(&pay)]));
    let t = ok(&h, &alice, "debug_traceTransaction", json!([paid, {}]));
    assert_eq!(
        t,
        json!({"failed": false, "gas": 21000, "returnValue": "0x", "structLogs": []})
    );
    // Other tracers are refused with a clear error.
    let (code, message) = err(
        &h,
        &alice,
        "debug_traceTransaction",
        json!([paid, {"tracer": "prestateTracer"}]),
    );
    assert_eq!(code, -32000);
    assert!(message.contains("not supported"), "{message}");
}
