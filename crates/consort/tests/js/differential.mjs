// Differential test: the same locally signed raw transactions go to Consort and to anvil
// (the reference EVM node, automining); receipts, transactions, call results, revert data
// and the final state must be identical, except what the block model makes different
// (block numbers, hashes, timestamps).
//
// Environment:
//   ETH_RPC_URL     Consort, e.g. https://127.0.0.1:8000/app/eth
//   CONSORT_CA, CONSORT_CERT, CONSORT_KEY   service certificate, user TLS cert and key
//   ETH_KEYS        comma-separated 0x private keys funded on Consort (at least 2)
//   ETH_PEERS       how many other nodes the Consort node has (net_peerCount)
//   ANVIL_URL       anvil, e.g. http://127.0.0.1:8545, started as
//                     anvil --chain-id <Consort's> --port 8545 --hardfork prague \
//                           --base-fee 0 --gas-price 0 --gas-limit 30000000 --steps-tracing --silent
//                   If unset, this script starts that command itself on ANVIL_PORT (18545).
// The script copies each account's balance and nonce from Consort to anvil
// (anvil_setBalance, anvil_setNonce) so that both start alike.
// Exit 0 with a JSON summary of what was compared, or 1 listing every difference.

import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Interface, Wallet, getCreateAddress, getCreate2Address, keccak256, AbiCoder, parseEther, toBeHex, zeroPadValue, encodeBytes32String, solidityPackedKeccak256 } from "ethers";
import { compile } from "./compile.mjs";
import { env, envList, rawRpc, toJson, until } from "./consort.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const CONSORT = env("ETH_RPC_URL");
const keys = envList("ETH_KEYS");
if (keys.length < 2) throw new Error("ETH_KEYS needs at least 2 private keys");
const wallets = keys.map((k) => new Wallet(k));
const [a0, a1] = wallets.map((w) => w.address);
const art = compile();
const I = Object.fromEntries(Object.entries(art).map(([n, c]) => [n, new Interface(c.abi)]));

// ---------------------------------------------------------------------------------------
// JSON-RPC on both nodes. `call` returns {result} or {error}; `must` the result or throws.
const nodes = { anvil: null, consort: CONSORT };
const call = async (node, method, params) => {
  const r = await rawRpc(nodes[node], method, params);
  return "error" in r ? { error: r.error } : { result: r.result };
};
const must = async (node, method, params) => {
  const r = await call(node, method, params);
  if (r.error) throw new Error(`${node} ${method} ${toJson(params)}: ${toJson(r.error)}`);
  return r.result;
};

// Anvil: given, or started here (and stopped at the end).
let anvilProcess = null;
const chainId = BigInt(await must("consort", "eth_chainId", []));
if (process.env.ANVIL_URL) {
  nodes.anvil = process.env.ANVIL_URL;
} else {
  const port = process.env.ANVIL_PORT || "18545";
  const bin = path.join(here, "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
  anvilProcess = spawn(bin, ["--chain-id", chainId.toString(), "--port", port, "--hardfork", "prague",
    "--base-fee", "0", "--gas-price", "0", "--gas-limit", "30000000", "--steps-tracing", "--silent"], { stdio: "ignore" });
  process.on("exit", () => anvilProcess.kill());
  nodes.anvil = `http://127.0.0.1:${port}`;
  await until(() => call("anvil", "eth_chainId", []).catch(() => null), "anvil to start");
}

// ---------------------------------------------------------------------------------------
// Differences, and how many items were compared.
const diffs = [];
const counts = {};
const norm = (v) => JSON.parse(JSON.stringify(v ?? null).toLowerCase());
/** Compare two JSON values; `ignore` lists object keys left out (at any depth). */
function compare(what, anvilValue, consortValue, ignore = []) {
  counts[what.split(" ")[0]] = (counts[what.split(" ")[0]] ?? 0) + 1;
  const strip = (v) => Array.isArray(v) ? v.map(strip)
    : v && typeof v === "object" ? Object.fromEntries(Object.entries(v).filter(([k]) => !ignore.includes(k)).map(([k, x]) => [k, strip(x)]).sort())
    : v;
  const x = norm(strip(anvilValue));
  const y = norm(strip(consortValue));
  if (JSON.stringify(x) === JSON.stringify(y)) return;
  if (x && y && typeof x === "object" && !Array.isArray(x) && typeof y === "object" && !Array.isArray(y)) {
    for (const k of new Set([...Object.keys(x), ...Object.keys(y)])) {
      if (JSON.stringify(x[k]) !== JSON.stringify(y[k])) diffs.push({ what: `${what}: ${k}`, anvil: x[k], consort: y[k] });
    }
  } else {
    diffs.push({ what, anvil: x, consort: y });
  }
}
/** JSON with object keys sorted (what `compare` compares). */
const canon = (v) => JSON.stringify(v, (_, x) => (x && typeof x === "object" && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : x));
/** A struct log compared step by step (a difference names its first step), else as JSON. */
function compareTrace(what, a, c) {
  const [la, lc] = [a.result?.structLogs, c.result?.structLogs];
  if (!la || !lc) return compare(what, a, c);
  compare(`${what} steps`, la.length, lc.length);
  const i = la.findIndex((x, k) => canon(norm(x)) !== canon(norm(lc[k])));
  if (i >= 0) compare(`${what} step ${i}`, la[i], lc[i]);
  compare(what, { ...a.result, structLogs: null }, { ...c.result, structLogs: null });
}
// Left out: what depends on the block model (Consort's blocks are its ledger entries,
// anvil's hold one transaction each): block numbers, hashes, times, and a transaction's
// or log's place in its block (erc.mjs checks those on Consort alone).
const BLOCK_KEYS = ["blockHash", "blockNumber", "blockTimestamp", "transactionIndex", "logIndex", "cumulativeGasUsed"];
// anvil adds blobGasPrice to every receipt; it only means something for blob transactions,
// which Consort refuses.
const RECEIPT_IGNORE = [...BLOCK_KEYS, "blobGasPrice", "blobGasUsed"];

// ---------------------------------------------------------------------------------------
// Start alike: anvil gets each account's Consort balance and nonce.
const nonces = {};
for (const w of wallets) {
  const balance = await must("consort", "eth_getBalance", [w.address, "latest"]);
  const nonce = await must("consort", "eth_getTransactionCount", [w.address, "latest"]);
  await must("anvil", "anvil_setBalance", [w.address, balance]);
  await must("anvil", "anvil_setNonce", [w.address, nonce]);
  nonces[w.address] = Number(nonce);
}
compare("chainId", await must("anvil", "eth_chainId", []), toBeHex(chainId));

// ---------------------------------------------------------------------------------------
// Signing and sending. Fee fields are all 0 (Consort's gas price) unless given.
const TYPES = { legacy: 0, eip2930: 1, eip1559: 2 };
function sign(w, { type = 2, to = null, data = "0x", value = 0n, gasLimit = 3_000_000n, nonce, fees = {}, accessList, chain = chainId }) {
  const t = { type, chainId: chain, nonce: nonce ?? nonces[w.address], to, data, value, gasLimit };
  if (type === 2) Object.assign(t, { maxFeePerGas: 0n, maxPriorityFeePerGas: 0n }, fees);
  else Object.assign(t, { gasPrice: 0n }, fees);
  if (type !== 0) t.accessList = accessList ?? (to ? [{ address: to, storageKeys: [zeroPadValue("0x01", 32)] }] : []);
  return w.signTransaction(t);
}

class Diverged extends Error {}
const sentTxs = [];
/** Sign `tx` for wallet `w`, send it to both nodes, wait for both receipts, compare. */
async function send(name, w, tx, { wait = true } = {}) {
  const raw = await sign(w, tx);
  const hash = keccak256(raw);
  nonces[w.address] += 1;
  const ra = await call("anvil", "eth_sendRawTransaction", [raw]);
  const rc = await call("consort", "eth_sendRawTransaction", [raw]);
  if (ra.error || rc.error) {
    // The nodes no longer share nonces or state: stop the workload here.
    diffs.push({ what: `send ${name}: accepted by both`, anvil: ra.error ?? "accepted", consort: rc.error ?? "accepted" });
    throw new Diverged(name);
  }
  compare(`txhash ${name}`, ra.result, hash);
  compare(`txhash ${name}`, rc.result, hash);
  const entry = { name, hash, raw, from: w.address, type: tx.type };
  sentTxs.push(entry);
  if (wait) await settle(entry);
  return entry;
}

/** Wait for the receipts of `e` on both nodes and compare them and the transactions. */
async function settle(e) {
  const ra = await until(() => must("anvil", "eth_getTransactionReceipt", [e.hash]), `anvil receipt of ${e.name}`);
  const rc = await until(() => must("consort", "eth_getTransactionReceipt", [e.hash]), `Consort receipt of ${e.name}`);
  e.status = rc.status;
  e.blocks = { anvil: ra.blockNumber, consort: rc.blockNumber };
  compare(`receipt ${e.name}`, ra, rc, RECEIPT_IGNORE);
  const ta = await must("anvil", "eth_getTransactionByHash", [e.hash]);
  const tc = await must("consort", "eth_getTransactionByHash", [e.hash]);
  compare(`transaction ${e.name}`, ta, tc, BLOCK_KEYS);
  // The (one-transaction) blocks: only what does not depend on the block model.
  const blockOf = async (node, r) => {
    const b = await must(node, "eth_getBlockByNumber", [r.blockNumber, false]);
    return { includesTx: b.transactions.includes(e.hash), gasLimit: b.gasLimit, baseFeePerGas: b.baseFeePerGas, miner: b.miner };
  };
  compare(`block ${e.name}`, await blockOf("anvil", ra), await blockOf("consort", rc));
}

/** A transaction both nodes must refuse (not include); nothing else is compared. */
async function reject(name, raw) {
  const ra = await call("anvil", "eth_sendRawTransaction", [raw]);
  const rc = await call("consort", "eth_sendRawTransaction", [raw]);
  counts.rejected = (counts.rejected ?? 0) + 1;
  if (!ra.error || !rc.error) diffs.push({ what: `rejected ${name}`, anvil: ra.error ?? ra.result, consort: rc.error ?? rc.result });
}

const enc = (c, f, args = []) => I[c].encodeFunctionData(f, args);
const deploy = (c, args = []) => art[c].bytecode + AbiCoder.defaultAbiCoder().encode(I[c].deploy.inputs, args).slice(2);
const [w0, w1] = wallets;
// A fresh address each run: on both nodes it has no balance, nonce or code at the start.
const EOA = Wallet.createRandom().address;

// ---------------------------------------------------------------------------------------
// The workload, then the comparisons of calls and of the final state. A transaction
// that one node accepts and the other refuses ends it (the states diverge from there).
let stopped = null;
try {
  // The workload.
  const token = getCreateAddress({ from: a0, nonce: nonces[a0] });
  await send("deploy Token", w0, { type: 2, data: deploy("Token", [parseEther("1000000")]) });
  const nft = getCreateAddress({ from: a0, nonce: nonces[a0] });
  await send("deploy Collectible", w0, { type: 0, data: deploy("Collectible") });
  const probe = getCreateAddress({ from: a1, nonce: nonces[a1] });
  await send("deploy Probe (payable)", w1, { type: 1, data: deploy("Probe", [7n]), value: parseEther("1") });

  await send("Token transfer", w0, { type: 2, to: token, data: enc("Token", "transfer", [a1, 1000n]) });
  await send("Token approve", w0, { type: 0, to: token, data: enc("Token", "approve", [a1, 500n]) });
  await send("Token transferFrom", w1, { type: 2, to: token, data: enc("Token", "transferFrom", [a0, a1, 300n]) });
  await send("Token transferFrom over allowance (reverts)", w1, { type: 1, to: token, data: enc("Token", "transferFrom", [a0, a1, 300n]), gasLimit: 200_000n });
  await send("Token transfer over balance (reverts)", w1, { type: 2, to: token, data: enc("Token", "transfer", [a0, 10n ** 30n]), gasLimit: 100_000n });

  await send("NFT mint", w0, { type: 2, to: nft, data: enc("Collectible", "mint", [a1, 1n]) });
  await send("NFT mint by non-owner (reverts)", w1, { type: 0, to: nft, data: enc("Collectible", "mint", [a1, 2n]), gasLimit: 200_000n });
  await send("NFT approve", w1, { type: 2, to: nft, data: enc("Collectible", "approve", [a0, 1n]) });
  await send("NFT transferFrom", w0, { type: 1, to: nft, data: enc("Collectible", "transferFrom", [a1, a0, 1n]) });
  await send("NFT safeTransferFrom to non-receiver (reverts)", w0, { type: 2, to: nft, data: enc("Collectible", "safeTransferFrom(address,address,uint256)", [a0, probe, 1n]), gasLimit: 200_000n });
  await send("NFT safeTransferFrom to EOA", w0, { type: 2, to: nft, data: enc("Collectible", "safeTransferFrom(address,address,uint256)", [a0, a1, 1n]) });

  await send("Probe store", w1, { type: 2, to: probe, data: enc("Probe", "store", [5n, 42n]) });
  await send("Probe store (legacy)", w1, { type: 0, to: probe, data: enc("Probe", "store", [6n, 43n]) });
  await send("Probe tag", w0, { type: 2, to: probe, data: enc("Probe", "tag", [5n, encodeBytes32String("tag"), "hello, consort"]) });
  await send("Probe setAndClear (refunds)", w1, { type: 2, to: probe, data: enc("Probe", "setAndClear", [5n]) });
  await send("Probe requireOk(false) (reverts with a message)", w0, { type: 2, to: probe, data: enc("Probe", "requireOk", [false]), gasLimit: 100_000n });
  await send("Probe requireOk(true)", w0, { type: 0, to: probe, data: enc("Probe", "requireOk", [true]) });
  await send("Probe customFail (reverts with a custom error)", w0, { type: 2, to: probe, data: enc("Probe", "customFail", [9n]), gasLimit: 100_000n });
  await send("Probe divide by zero (panics)", w0, { type: 1, to: probe, data: enc("Probe", "divide", [1n, 0n]), gasLimit: 100_000n });
  await send("Probe burn(60)", w1, { type: 2, to: probe, data: enc("Probe", "burn", [60n]) });
  await send("Probe burn(500) out of gas", w1, { type: 0, to: probe, data: enc("Probe", "burn", [500n]), gasLimit: 80_000n });
  await send("Probe spawn (CREATE2)", w1, { type: 2, to: probe, data: enc("Probe", "spawn", [encodeBytes32String("salt"), 11n]) });
  await send("Probe spawn same salt (reverts)", w1, { type: 2, to: probe, data: enc("Probe", "spawn", [encodeBytes32String("salt"), 12n]), gasLimit: 500_000n });
  await send("Probe spawnFailing (caught)", w0, { type: 2, to: probe, data: enc("Probe", "spawnFailing") });
  await send("Probe pay EOA", w1, { type: 2, to: probe, data: enc("Probe", "pay", [EOA, parseEther("0.25")]) });
  await send("Probe pay to Token (reverts)", w1, { type: 2, to: probe, data: enc("Probe", "pay", [token, 1n]), gasLimit: 200_000n });

  await send("value to EOA (legacy)", w0, { type: 0, to: EOA, value: parseEther("1"), gasLimit: 21_000n });
  await send("value between accounts (2930)", w1, { type: 1, to: a0, value: parseEther("0.5"), gasLimit: 50_000n, accessList: [] });
  await send("value to Probe receive()", w0, { type: 2, to: probe, value: 12345n, gasLimit: 60_000n });
  await send("self-send with calldata", w1, { type: 2, to: a1, data: "0x00ff00ff", gasLimit: 50_000n });
  await send("value with maxFeePerGas 1 gwei, tip 0", w0, { type: 2, to: EOA, value: 1n, gasLimit: 21_000n, fees: { maxFeePerGas: 10n ** 9n }, accessList: [] });
  await send("legacy with gasPrice 1 gwei", w1, { type: 0, to: EOA, value: 2n, gasLimit: 21_000n, fees: { gasPrice: 10n ** 9n } });
  await send("create that reverts", w0, { type: 2, data: art.Failing.bytecode, gasLimit: 300_000n });
  await send("create out of gas", w0, { type: 0, data: deploy("Token", [1n]), gasLimit: 150_000n });

  // A burst: sent back to back without waiting; Consort executes each on the state left by
  // the one before, committed or not.
  const burst = [];
  for (let i = 0; i < 4; i++) {
    burst.push(await send(`burst ${i} transfer`, wallets[i % 2], { type: 2, to: token, data: enc("Token", "transfer", [EOA, BigInt(i + 1)]) }, { wait: false }));
    burst.push(await send(`burst ${i} store`, wallets[(i + 1) % 2], { type: i % 3, to: probe, data: enc("Probe", "store", [100n + BigInt(i), BigInt(i)]) }, { wait: false }));
  }
  for (const e of burst.filter(Boolean)) await settle(e);

  // The pool: a nonce one ahead of its sender's waits on both nodes (txpool_status and
  // txpool_content show it), and runs once the gap is filled.
  {
    const ahead = await sign(w1, { type: 2, to: EOA, value: 3n, gasLimit: 21_000n, nonce: nonces[a1] + 1, accessList: [] });
    for (const node of ["anvil", "consort"]) await must(node, "eth_sendRawTransaction", [ahead]);
    compare("txpool status with a gap", await must("anvil", "txpool_status", []), await must("consort", "txpool_status", []));
    // geth lists a transaction waiting for an earlier nonce under "queued" (anvil under
    // "pending"): compare the transactions, and check Consort's place as geth's.
    const [pa, pc] = [await must("anvil", "txpool_content", []), await must("consort", "txpool_content", [])];
    const merged = (p) => ({ ...p.pending, ...p.queued });
    compare("txpool content with a gap", merged(pa), merged(pc));
    compare("txpool content with a gap", { pending: {}, queuedSenders: Object.keys(merged(pa)).length }, { pending: pc.pending, queuedSenders: Object.keys(pc.queued).length });
    compare("pending transaction", await must("anvil", "eth_getTransactionByHash", [keccak256(ahead)]), await must("consort", "eth_getTransactionByHash", [keccak256(ahead)]));
    await send("gap fill", w1, { type: 2, to: EOA, value: 4n, gasLimit: 21_000n, accessList: [] });
    const entry = { name: "after the gap", hash: keccak256(ahead), raw: ahead, from: a1, type: 2 };
    nonces[a1] += 1;
    sentTxs.push(entry);
    await settle(entry);
    compare("txpool status empty", await must("anvil", "txpool_status", []), await must("consort", "txpool_status", []));
    compare("txpool content empty", await must("anvil", "txpool_content", []), await must("consort", "txpool_content", []));
  }

  // Transactions both must refuse (nonces are unchanged afterwards: see the final state).
  const n0 = nonces[a0];
  await reject("nonce too low", await sign(w0, { to: EOA, value: 1n, nonce: n0 - 1, gasLimit: 21_000n }));
  await reject("wrong chain id", await sign(w0, { to: EOA, value: 1n, gasLimit: 21_000n, chain: chainId + 1n }));
  await reject("gas below intrinsic", await sign(w0, { to: EOA, value: 1n, gasLimit: 20_000n }));
  await reject("gas above the block limit", await sign(w0, { to: EOA, value: 1n, gasLimit: 30_000_001n }));
  await reject("value above the balance", await sign(w0, { to: EOA, value: 10n ** 40n, gasLimit: 21_000n }));
  await reject("already included (the same bytes again)", sentTxs[0].raw);

  // ---------------------------------------------------------------------------------------
  // eth_call at latest: return data, or the error code and revert data.
  const child = getCreate2Address(probe, encodeBytes32String("salt"), keccak256(deploy("Child", [11n])));
  const calls = [
    ["Token balanceOf a0", { to: token, data: enc("Token", "balanceOf", [a0]) }],
    ["Token balanceOf EOA", { to: token, data: enc("Token", "balanceOf", [EOA]) }],
    ["Token allowance", { to: token, data: enc("Token", "allowance", [a0, a1]) }],
    ["Token name", { to: token, data: enc("Token", "name") }],
    ["Token transfer too much (reverts)", { from: a1, to: token, data: enc("Token", "transfer", [a0, 10n ** 30n]) }],
    ["NFT ownerOf(1)", { to: nft, data: enc("Collectible", "ownerOf", [1n]) }],
    ["NFT ownerOf(7) (reverts)", { to: nft, data: enc("Collectible", "ownerOf", [7n]) }],
    ["NFT mint by non-owner (reverts)", { from: a1, to: nft, data: enc("Collectible", "mint", [a1, 3n]) }],
    ["Probe info(6)", { to: probe, data: enc("Probe", "info", [6n]) }],
    ["Probe counter", { to: probe, data: enc("Probe", "counter") }],
    ["Probe tags", { to: probe, data: enc("Probe", "tags", [a0, 5n]) }],
    ["Probe env", { from: a0, to: probe, data: enc("Probe", "env") }],
    ["Probe requireOk(false) (reverts)", { from: a0, to: probe, data: enc("Probe", "requireOk", [false]) }],
    ["Probe customFail (reverts)", { from: a1, to: probe, data: enc("Probe", "customFail", [3n]) }],
    ["Probe divide by zero (panics)", { to: probe, data: enc("Probe", "divide", [1n, 0n]) }],
    ["Probe burn(1000) with gas 50000 (out of gas)", { to: probe, data: enc("Probe", "burn", [1000n]), gas: toBeHex(50_000n) }],
    ["Probe with value, no from", { to: probe, value: toBeHex(5n), data: "0x" }],
    ["Child value", { to: child, data: enc("Child", "value") }],
    ["create in a call (returns runtime code)", { from: a0, data: deploy("Probe", [1n]) }],
    ["call to an EOA", { to: EOA, data: "0x1234" }],
    ["call with no data to Token (reverts, empty data)", { to: token, data: "0x" }],
  ];
  for (const [name, req] of calls) {
    const [ra, rc] = [await call("anvil", "eth_call", [req, "latest"]), await call("consort", "eth_call", [req, "latest"])];
    // Error messages are free text, and codes other than 3 (a revert, with its data) vary
    // between implementations: compare whether it is a revert, and the revert data.
    const shape = (r) => (r.error ? { error: { revert: r.error.code === 3, data: r.error.data ?? null } } : r);
    compare(`call ${name}`, shape(ra), shape(rc));
  }

  // ---------------------------------------------------------------------------------------
  // eth_createAccessList of the same calls (with a `from`, as above), and of one given a
  // list to start from.
  for (const [name, req] of calls) {
    const withFrom = { from: a0, ...req };
    const [ra, rc] = [await call("anvil", "eth_createAccessList", [withFrom, "latest"]), await call("consort", "eth_createAccessList", [withFrom, "latest"])];
    // A call that fails: geth answers with the list and an `error` field, anvil 1.5 with a
    // JSON-RPC error; Consort as geth.
    if (ra.error && rc.result?.error) counts.accessList = (counts.accessList ?? 0) + 1;
    else compare(`accessList ${name}`, ra.error ? { error: true } : ra, rc.error ? { error: true } : rc);
  }

  // Given a list to start from: geth's tracer is seeded with it, so its entries stay in the
  // answer next to what the call touches (anvil 1.5 varies here: checked on Consort alone).
  {
    const r = await must("consort", "eth_createAccessList", [{ from: a0, to: token, data: enc("Token", "transfer", [a1, 1n]), accessList: [{ address: nft, storageKeys: [] }] }, "latest"]);
    const plain = await must("consort", "eth_createAccessList", [{ from: a0, to: token, data: enc("Token", "transfer", [a1, 1n]) }, "latest"]);
    counts.accessList = (counts.accessList ?? 0) + 1;
    const seeded = r.accessList.find((e) => e.address.toLowerCase() === nft.toLowerCase());
    const rest = r.accessList.filter((e) => e !== seeded);
    if (!seeded || canon(norm(rest)) !== canon(norm(plain.accessList))) diffs.push({ what: "accessList seeded with a list keeps it, plus what the call touches", anvil: "(not compared)", consort: r });
  }

  // ---------------------------------------------------------------------------------------
  // Traces (geth's struct logger and callTracer) of reverting and succeeding transactions,
  // re-executed where they ran, and of calls.
  const traced = ["Token transfer over balance (reverts)", "Probe requireOk(false) (reverts with a message)", "Probe customFail (reverts with a custom error)", "Token transferFrom", "Probe spawn (CREATE2)", "NFT safeTransferFrom to non-receiver (reverts)"];
  for (const e of traced.map((n) => sentTxs.find((x) => x.name === n)).filter(Boolean)) {
    // anvil leaves storage out of struct logs; geth (and Consort) show it at SLOAD/SSTORE.
    const storageShown = (await must("consort", "debug_traceTransaction", [e.hash, {}])).structLogs.filter((l) => l.op === "SLOAD" || l.op === "SSTORE").every((l) => l.storage);
    if (!storageShown) diffs.push({ what: `trace ${e.name}: storage at every SLOAD/SSTORE (geth)`, anvil: "(not compared)", consort: "missing" });
    for (const opts of [{ disableStorage: true }, { tracer: "callTracer" }, { enableMemory: true, disableStorage: true }, { tracer: "callTracer", tracerConfig: { withLog: true } }]) {
      const [ta, tc] = [await call("anvil", "debug_traceTransaction", [e.hash, opts]), await call("consort", "debug_traceTransaction", [e.hash, opts])];
      if (opts.tracer === "callTracer" && ta.result && tc.result) {
        // geth gives the top call frame the transaction's gas limit (anvil 1.5: what was
        // left after the intrinsic gas); the frames below agree on both.
        const limit = (await must("consort", "eth_getTransactionByHash", [e.hash])).gas;
        if (tc.result.gas !== limit) diffs.push({ what: `trace ${e.name} callTracer: top gas is the gas limit (geth)`, anvil: limit, consort: tc.result.gas });
        delete ta.result.gas;
        delete tc.result.gas;
      }
      compareTrace(`trace ${e.name} ${toJson(opts)}`, ta, tc);
    }
  }
  // Calls with a `from` (without one, Consort calls as the caller's own address, anvil as
  // the zero address).
  for (const [name, req] of calls.filter(([n]) => n.includes("reverts") || n.includes("Token balanceOf a0"))) {
    const withFrom = { from: a0, ...req };
    for (const opts of [{ disableStorage: true }, { tracer: "callTracer" }]) {
      const [ta, tc] = [await call("anvil", "debug_traceCall", [withFrom, "latest", opts]), await call("consort", "debug_traceCall", [withFrom, "latest", opts])];
      if (opts.tracer && ta.result && tc.result) {
        if (tc.result.gas !== "0x1c9c380") diffs.push({ what: `traceCall ${name}: top gas is the call's gas limit (geth)`, anvil: "0x1c9c380", consort: tc.result.gas });
        delete ta.result.gas;
        delete tc.result.gas;
      }
      compareTrace(`traceCall ${name} ${toJson(opts)}`, ta, tc);
    }
  }

  // ---------------------------------------------------------------------------------------
  // State at past blocks: at the block of a transaction, each node must answer with the
  // state right after it (Consort keeps a window of past states; these are well inside).
  const past = ["Token transfer", "Token transferFrom", "Probe store", "value to EOA (legacy)"].map((n) => sentTxs.find((e) => e.name === n));
  for (const e of past.filter(Boolean)) {
    const queries = [
      ["eth_getBalance", (b) => [a0, b]],
      ["eth_getTransactionCount", (b) => [a1, b]],
      ["eth_call", (b) => [{ to: token, data: enc("Token", "balanceOf", [a1]) }, b]],
      ["eth_getStorageAt", (b) => [probe, "0x0", b]],
      ["eth_getCode", (b) => [child, b]],
    ];
    for (const [method, params] of queries) {
      const ra = await call("anvil", method, params(e.blocks.anvil));
      const rc = await call("consort", method, params(e.blocks.consort));
      compare(`history ${method} after "${e.name}"`, ra, rc);
    }
  }

  // ---------------------------------------------------------------------------------------
  // The block-indexed reads: every transaction sent and waited for alone is alone in its
  // block on both nodes (the burst may share Consort blocks, so it is left out).
  const shared = ["gap fill", "after the gap"]; // mined together, in one block on each node
  for (const e of sentTxs.filter((x) => !x.name.startsWith("burst") && !shared.includes(x.name) && x.blocks)) {
    const [ba, bc] = [e.blocks.anvil, e.blocks.consort];
    const ha = (await must("anvil", "eth_getBlockByNumber", [ba, false])).hash;
    const hc = (await must("consort", "eth_getBlockByNumber", [bc, false])).hash;
    const both = async (what, method, pa, pc, ignore = []) => compare(`${what} ${e.name}`, await must("anvil", method, pa), await must("consort", method, pc), ignore);
    await both("blockTxCount", "eth_getBlockTransactionCountByNumber", [ba], [bc]);
    await both("blockTxCount", "eth_getBlockTransactionCountByHash", [ha], [hc]);
    await both("txByIndex", "eth_getTransactionByBlockNumberAndIndex", [ba, "0x0"], [bc, "0x0"], BLOCK_KEYS);
    await both("txByIndex", "eth_getTransactionByBlockHashAndIndex", [ha, "0x0"], [hc, "0x0"], BLOCK_KEYS);
    await both("txByIndex", "eth_getTransactionByBlockNumberAndIndex", [ba, "0x1"], [bc, "0x1"]);
    await both("blockReceipts", "eth_getBlockReceipts", [ba], [bc], RECEIPT_IGNORE);
    await both("uncles", "eth_getUncleCountByBlockNumber", [ba], [bc]);
    await both("uncles", "eth_getUncleCountByBlockHash", [ha], [hc]);
    await both("uncles", "eth_getUncleByBlockNumberAndIndex", [ba, "0x0"], [bc, "0x0"]);
  }
  // A block number past the head: geth answers null, anvil with an error; Consort as geth.
  const far = "0xffffffff";
  for (const [method, params] of [["eth_getBlockTransactionCountByNumber", [far]], ["eth_getTransactionByBlockNumberAndIndex", [far, "0x0"]], ["eth_getBlockReceipts", [far]]]) {
    counts.misc = (counts.misc ?? 0) + 1;
    const r = await call("consort", method, params);
    if (r.error || r.result !== null) diffs.push({ what: `${method} of a future block is null (as geth)`, anvil: "(not compared)", consort: r });
  }
  for (const [method, params] of [
    ["eth_getBlockTransactionCountByHash", [keccak256("0x01")]],
    ["eth_getBlockReceipts", [keccak256("0x02")]],
    ["web3_sha3", ["0x68656c6c6f20636f6e736f7274"]],
    ["web3_sha3", ["0x"]],
    ["net_listening", []],
  ]) compare(`misc ${method} ${toJson(params)}`, await must("anvil", method, params), await must("consort", method, params));
  // anvil has no net_peerCount; Consort's counts the other trusted nodes (ETH_PEERS).
  const wantPeers = BigInt(env("ETH_PEERS"));
  {
    const peers = await must("consort", "net_peerCount", []);
    counts.misc += 1;
    if (peers !== `0x${wantPeers.toString(16)}`) diffs.push({ what: "net_peerCount", anvil: `(ETH_PEERS ${wantPeers})`, consort: peers });
  }

  // ---------------------------------------------------------------------------------------
  // eth_getLogs of each contract over the whole chain (block fields left out).
  for (const address of [token, nft, probe, child]) {
    const filter = { address, fromBlock: "earliest", toBlock: "latest" };
    compare(`logs ${address}`, await must("anvil", "eth_getLogs", [filter]), await must("consort", "eth_getLogs", [filter]), BLOCK_KEYS);
  }

  // ---------------------------------------------------------------------------------------
  // Final state: balances and nonces, code, storage slots.
  const accounts = [...wallets.map((w) => w.address), EOA, token, nft, probe, child];
  for (const a of accounts) {
    compare(`balance ${a}`, await must("anvil", "eth_getBalance", [a, "latest"]), await must("consort", "eth_getBalance", [a, "latest"]));
    compare(`nonce ${a}`, await must("anvil", "eth_getTransactionCount", [a, "latest"]), await must("consort", "eth_getTransactionCount", [a, "latest"]));
  }
  const failedCreates = sentTxs.filter((e) => e.name.startsWith("create")).map((e) => getCreateAddress({ from: e.from, nonce: nonces[e.from] - 1 }));
  for (const a of [token, nft, probe, child, EOA, ...failedCreates]) {
    compare(`code ${a}`, await must("anvil", "eth_getCode", [a, "latest"]), await must("consort", "eth_getCode", [a, "latest"]));
  }
  const mapSlot = (key, slot) => solidityPackedKeccak256(["bytes32", "bytes32"], [zeroPadValue(toBeHex(key), 32), zeroPadValue(toBeHex(slot), 32)]);
  const slots = [
    ...[0, 1, 2, 3, 4, 5, 6, 7].flatMap((s) => [[token, s], [nft, s], [probe, s], [child, s]]),
    ...[a0, a1, EOA].map((a) => [token, mapSlot(a, 0)]),           // ERC20 _balances
    [token, solidityPackedKeccak256(["bytes32", "bytes32"], [zeroPadValue(a1, 32), mapSlot(a0, 1)])], // _allowances[a0][a1]
    ...[1n, 2n].map((t) => [nft, mapSlot(t, 2)]),                  // ERC721 _owners
    ...[5n, 6n, 1005n, 100n, 103n].map((k) => [probe, mapSlot(k, 1)]), // Probe values
  ];
  for (const [a, s] of slots) {
    const slot = toBeHex(s, 32);
    compare(`storage ${a}[${slot}]`, await must("anvil", "eth_getStorageAt", [a, slot, "latest"]), await must("consort", "eth_getStorageAt", [a, slot, "latest"]));
  }

} catch (e) {
  if (!(e instanceof Diverged)) throw e;
  stopped = e.message;
}

// ---------------------------------------------------------------------------------------
const summary = {
  ok: diffs.length === 0,
  chainId,
  transactions: sentTxs.length,
  byType: Object.fromEntries(Object.entries(TYPES).map(([n, t]) => [n, sentTxs.filter((e) => e.type === t).length])),
  reverted: sentTxs.filter((e) => e.status === "0x0").length,
  compared: counts,
  differences: diffs.length,
  stoppedAt: stopped,
};
console.log(toJson(summary, 2));
if (diffs.length) {
  console.error(`differential.mjs: ${diffs.length} difference(s) between anvil and Consort:`);
  const short = (v) => { const j = toJson(v) ?? "(absent)"; return j.length > 200 ? j.slice(0, 200) + "..." : j; };
  for (const d of diffs) console.error(`- ${d.what}\n    anvil:   ${short(d.anvil)}\n    consort: ${short(d.consort)}`);
  // The same differences grouped by kind and field, to see the patterns.
  const groups = {};
  for (const d of diffs) {
    const [kind, ...rest] = d.what.split(" ");
    const field = d.what.includes(": ") ? d.what.split(": ").pop() : "(value)";
    (groups[`${kind} ${field}`] ??= []).push(rest.join(" ").split(": ")[0]);
  }
  console.error("grouped:");
  for (const [g, items] of Object.entries(groups)) console.error(`  ${g}: ${items.length}x (${items.slice(0, 4).join("; ")}${items.length > 4 ? "; ..." : ""})`);
}
process.exit(diffs.length ? 1 : 0);
