// WebSocket JSON-RPC and subscriptions on Consort (wss://…/app/eth/ws), with ethers v6's
// WebSocketProvider (unmodified) over a `ws` socket carrying the user's TLS certificate:
// 1. ethers over the socket: chain id, a deployment and transfers sent through it (plain
//    requests run as JSON-RPC, forwarded to the primary from a backup), `provider.on("block")`
//    (newHeads) and `contract.on("Transfer")` (a logs subscription) — every event once, in order;
// 2. a raw `logs` subscription matches `eth_getLogs` over the same range;
// 3. a reader that stops reading while many events are due is sent a close frame (1008).
//
// Environment: ETH_WS_URL (wss://…/app/eth/ws of a node), ETH_RPC_URL (https://…/app/eth),
// CONSORT_CA, CONSORT_CERT, CONSORT_KEY, ETH_KEYS (at least 2 funded keys).
// Exit 0 with a JSON summary on stdout, or 1 with what failed.

import fs from "node:fs";
import WebSocket from "ws";
import { ContractFactory, Interface, Wallet, WebSocketProvider } from "ethers";
import { compile } from "./compile.mjs";
import { assertEq, check, consortProvider, consortRequest, env, envList, rawRpc, toJson, until } from "./consort.mjs";

const keys = envList("ETH_KEYS");
const tls = { ca: fs.readFileSync(env("CONSORT_CA")), cert: fs.readFileSync(env("CONSORT_CERT")), key: fs.readFileSync(env("CONSORT_KEY")) };
const socket = () => new WebSocket(env("ETH_WS_URL"), tls);
const http = consortProvider(env("ETH_RPC_URL"));
const { Token } = compile();
const summary = {};

/** A raw socket: `call(method, params)` answers; `notes` collects subscription messages. */
async function raw() {
  const s = socket();
  await new Promise((ok, fail) => { s.once("open", ok); s.once("error", fail); });
  const waiting = new Map();
  const notes = [];
  let next = 1;
  s.on("message", (m) => {
    const j = JSON.parse(m.toString());
    if (j.method === "eth_subscription") notes.push(j.params);
    else waiting.get(j.id)?.(j);
  });
  const call = (method, params) => new Promise((ok) => {
    const id = next++;
    waiting.set(id, ok);
    s.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
  });
  return { s, call, notes };
}

const progress = (m) => console.error(`ws.mjs: ${m}`);
// ---- 1. ethers over the socket ----------------------------------------------------------
const provider = new WebSocketProvider(socket());
const chainId = (await provider.getNetwork()).chainId;
assertEq(chainId, BigInt((await rawRpc(env("ETH_RPC_URL"), "eth_chainId", [])).result), "chain id over the socket");
const [w0, w1] = keys.map((k) => new Wallet(k, provider));
const token = await new ContractFactory(Token.abi, Token.bytecode, w0).deploy(10n ** 24n);
const deployed = await token.deploymentTransaction().wait();
const address = await token.getAddress();
const heads = [];
await provider.on("block", (n) => heads.push(n));
const seen = [];
await token.on("Transfer", (from, to, value, ev) => seen.push({ value, block: ev.log.blockNumber }));
await new Promise((r) => setTimeout(r, 300));
let nonce = await provider.getTransactionCount(w0.address);
let last;
for (let i = 1n; i <= 50n; i++) last = await token.transfer(w1.address, i, { nonce: nonce++, gasLimit: 100_000n });
// Sends over the socket are answered once committed: wait() finds the receipt at once (it
// would otherwise wait for a later block, which an idle network does not make).
const lastReceipt = await last.wait();
await until(() => (seen.length >= 50 ? true : null), `50 Transfer events over the socket (got ${seen.length})`, 20_000);
await until(() => (heads.at(-1) >= lastReceipt.blockNumber ? true : null), "a new head for the last transfer's block", 20_000);
await new Promise((r) => setTimeout(r, 300));
assertEq(seen.map((s) => s.value), Array.from({ length: 50 }, (_, i) => BigInt(i + 1)), "each Transfer once, in order");
check(heads.every((h, i) => i === 0 || h > heads[i - 1]), `heads in order: ${heads}`);
check(heads[0] > deployed.blockNumber - 1 && heads.includes(lastReceipt.blockNumber), "heads cover the transfers' blocks");
progress("ethers over the socket: done");
summary.ethers = { transfers: seen.length, heads: heads.length };
provider.destroy();

// ---- 2. a raw logs subscription matches eth_getLogs -------------------------------------
{
  const { s, call, notes } = await raw();
  const sub = (await call("eth_subscribe", ["logs", { address }])).result;
  check(/^0x[0-9a-f]+$/.test(sub), `subscription id ${sub}`);
  const bad = await call("eth_subscribe", ["nope"]);
  check(bad.error?.code === -32602, `an unknown subscription kind is refused: ${toJson(bad)}`);
  const t = token.connect(new Wallet(keys[0], http));
  let n = await http.getTransactionCount(w0.address);
  let end;
  for (let i = 0; i < 30; i++) end = await t.transfer(w1.address, 1000n + BigInt(i), { nonce: n++, gasLimit: 100_000n });
  await end.wait();
  await until(() => (notes.length >= 30 ? true : null), `30 logs pushed (got ${notes.length})`, 20_000);
  await new Promise((r) => setTimeout(r, 300));
  check(notes.every((x) => x.subscription === sub), "notifications carry the subscription id");
  const pushed = notes.map((x) => x.result);
  const range = { address, fromBlock: pushed[0].blockNumber, toBlock: pushed.at(-1).blockNumber };
  const logs = await http.send("eth_getLogs", [range]);
  assertEq(pushed, logs, "pushed logs = eth_getLogs over the same range");
  assertEq((await call("eth_unsubscribe", [sub])).result, true, "eth_unsubscribe");
  assertEq((await call("eth_unsubscribe", [sub])).result, false, "eth_unsubscribe again");
  summary.logs = pushed.length;
  progress("logs subscription: done");
  s.close();
}

// ---- 3. a reader that stops reading is dropped --------------------------------------------
{
  const { s, call } = await raw();
  for (let i = 0; i < 32; i++) await call("eth_subscribe", ["logs", { address }]);
  const refused = await call("eth_subscribe", ["newHeads"]);
  check(refused.error?.code === -32005, `a 33rd subscription is refused: ${toJson(refused)}`);
  const closed = new Promise((ok) => s.once("close", (code, reason) => ok({ code, reason: reason.toString() })));
  s._socket.pause(); // stop reading for 3 s while events are due: they pile up on the node
  setTimeout(() => s._socket.resume(), 3000);
  // 1,000 transfers, signed here and sent in batches: ~32,000 events due at once.
  const iface = new Interface(Token.abi);
  let n = await http.getTransactionCount(w0.address);
  const signer = new Wallet(keys[0]);
  const raws = [];
  for (let i = 0; i < 1000; i++) {
    raws.push(await signer.signTransaction({ type: 0, chainId, nonce: n++, to: address, data: iface.encodeFunctionData("transfer", [w1.address, 1n]), gasLimit: 100_000n, gasPrice: 0n }));
  }
  for (let b = 0; b < raws.length; b += 100) {
    const req = consortRequest(env("ETH_RPC_URL"));
    req.setHeader("content-type", "application/json");
    req.body = JSON.stringify(raws.slice(b, b + 100).map((r, i) => ({ jsonrpc: "2.0", id: b + i, method: "eth_sendRawTransaction", params: [r] })));
    const answers = (await req.send()).bodyJson;
    check(answers.every((a) => a.result), `batch ${b / 100} accepted: ${toJson(answers.find((a) => !a.result))}`);
  }
  progress("slow reader: 1000 transfers sent");
  const c = await Promise.race([closed, new Promise((r) => setTimeout(() => r(null), 15_000))]);
  check(c?.code === 1008, `the slow reader is sent close 1008: ${toJson(c)}`);
  summary.slowReader = c;
}

http.destroy();
console.log(JSON.stringify({ ok: true, ...summary }));
process.exit(0);
