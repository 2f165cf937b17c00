// End-to-end test of the Ethereum application's privacy policy with ethers v6, unmodified,
// on a multi-node network: who may see which transaction, receipt, log, block entry,
// filter, balance, nonce, code and storage slot, and who may call, estimate and send as
// which address.
//
// Parties (each a Consort user with its own TLS client certificate, each talking to one
// node throughout):
//   alice    binds her Ethereum address herself (GET /app/eth/bind/message, personal_sign,
//            POST /app/eth/bind); deploys PrivateToken (contracts/Guarded.sol; private, the
//            service default) and Token (contracts/Token.sol; public, chosen with the
//            `x-consort-eth-privacy: public` header on the deployment's requests),
//            transfers both to bob, sends ether to carol
//   bob      bound by governance beforehand; sends ether to alice
//   auditor  bound by governance, holds the `auditor` role: sees everything
//   eve      a user with no address at all
//   carol    not a user: an address with a funded key, bound to nobody
//
// Every answer is asserted exactly: what a party may see equals what the auditor sees
// (JSON text of the JSON-RPC `result`); what it may not see is byte-identical to the answer
// for a nonexistent hash, address or filter (the whole HTTP body).
//
// Environment:
//   ETH_RPC_URLS    comma-separated https://…/app/eth URLs of the nodes (alice uses the
//                   first, bob the second, the auditor the third, eve the first)
//   CONSORT_CA      service_cert.pem
//   ALICE_CERT / ALICE_KEY, BOB_CERT / BOB_KEY, AUDITOR_CERT / AUDITOR_KEY, EVE_CERT / EVE_KEY
//                   the users' TLS certificates and keys (PEM files)
//   ALICE_ETH_KEY, BOB_ETH_KEY, AUDITOR_ETH_KEY, CAROL_ETH_KEY
//                   0x private keys of funded accounts (1000 ether each); bob's and the
//                   auditor's addresses already bound to them by governance, alice's and
//                   carol's bound to nobody yet
//   ETH_CHAIN_ID    optional: the expected chain id
//
// Exit code 0 and a one-line JSON summary on stdout on success; 1 and the failed steps
// otherwise (VERBOSE=1 prints the full errors).

import crypto from "node:crypto";
import fs from "node:fs";
import https from "node:https";
import {
  AbiCoder, Contract, ContractFactory, FetchRequest, Interface, JsonRpcProvider, Network, Wallet,
  getAddress, getBytes, hexlify, id, keccak256, parseEther, randomBytes, toBeHex, zeroPadValue, ZeroAddress,
} from "ethers";
import { compile } from "./compile.mjs";
import { env, envList, expectError, toJson, until } from "./consort.mjs";

const urls = envList("ETH_RPC_URLS");
if (urls.length === 0) throw new Error("ETH_RPC_URLS needs at least one URL");
const ca = fs.readFileSync(env("CONSORT_CA"));

// ---------------------------------------------------------------------------------------
// Parties: a TLS identity (https.Agent), the node it talks to, its user id, its key.

/** The user id of a certificate: hex SHA-256 of its DER, as governance's set_user has it. */
const userId = (pem) => crypto.createHash("sha256").update(new crypto.X509Certificate(pem).raw).digest("hex");

function party(name, node, ethKey) {
  const NAME = name.toUpperCase();
  const cert = fs.readFileSync(env(`${NAME}_CERT`));
  const agent = new https.Agent({ ca, cert, key: fs.readFileSync(env(`${NAME}_KEY`)), keepAlive: true });
  const url = urls[node % urls.length];
  const wallet = ethKey ? new Wallet(ethKey) : null;
  return { name, url, origin: new URL(url).origin, agent, id: userId(cert), wallet, address: wallet?.address ?? null };
}

const alice = party("alice", 0, env("ALICE_ETH_KEY"));
const bob = party("bob", 1, env("BOB_ETH_KEY"));
const auditor = party("auditor", 2, env("AUDITOR_ETH_KEY"));
const eve = party("eve", 3, null);
const parties = [alice, bob, auditor, eve];
const carol = new Wallet(env("CAROL_ETH_KEY"));

// ---------------------------------------------------------------------------------------
// Raw HTTPS and JSON-RPC as a party (exact bodies and error codes).

/** One HTTPS request as `p`: { status, text }. */
function request(p, method, url, body = null, headers = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const h = { ...headers };
    if (body != null) {
      h["content-type"] = "application/json";
      h["content-length"] = Buffer.byteLength(body);
    }
    const req = https.request({
      method, hostname: u.hostname, port: u.port, path: u.pathname + u.search, agent: p.agent, headers: h, timeout: 30_000,
    }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`${p.name}: ${method} ${url} timed out`)));
    req.on("error", reject);
    if (body != null) req.write(body);
    req.end();
  });
}

/** The whole HTTP body of the JSON-RPC call `method(params)` by `p` (always id 1). */
async function rpcText(p, method, params) {
  const r = await request(p, "POST", p.url, JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }));
  if (r.status !== 200) throw new Error(`${p.name} ${method}: HTTP ${r.status}: ${r.text}`);
  return r.text;
}

/** The `result` of `method(params)` by `p` (throws on a JSON-RPC error). */
async function result(p, method, params) {
  const text = await rpcText(p, method, params);
  const j = JSON.parse(text);
  if (j.error !== undefined) throw new Error(`${p.name} ${method}(${short(toJson(params))}): error ${toJson(j.error)}`);
  if (!("result" in j)) throw new Error(`${p.name} ${method}: no result in ${short(text)}`);
  return j.result;
}

/** The `error` of `method(params)` by `p` (throws if it succeeded). */
async function rpcError(p, method, params) {
  const j = JSON.parse(await rpcText(p, method, params));
  if (j.error === undefined) throw new Error(`${p.name} ${method}(${short(toJson(params))}): expected an error, got ${short(toJson(j.result))}`);
  return j.error;
}

const get = (p, path) => request(p, "GET", p.origin + path);
const postJson = (p, path, v) => request(p, "POST", p.origin + path, JSON.stringify(v));

/** An ethers provider for `p` (its TLS identity, its node), with extra HTTP headers. */
function providerFor(p, chainId, headers = {}) {
  const req = new FetchRequest(p.url);
  req.getUrlFunc = FetchRequest.createGetUrlFunc({ agent: p.agent });
  req.timeout = 30_000;
  for (const [k, v] of Object.entries(headers)) req.setHeader(k, v);
  const network = Network.from(Number(chainId));
  // As consortProvider: a static network, short polling, no cache of identical requests.
  return new JsonRpcProvider(req, network, { staticNetwork: network, pollingInterval: 50, cacheTimeout: -1 });
}

// ---------------------------------------------------------------------------------------
// Steps and checks. A step records every mismatch it finds and goes on; a step that throws
// is recorded too, and the next steps still run (read the first failure first).

const steps = [];
const failures = [];
let problems = [];
let checks = 0;

async function step(name, fn) {
  problems = [];
  try {
    await fn();
  } catch (e) {
    problems.push(`threw: ${e.shortMessage ?? e.message}`);
    if (process.env.VERBOSE) console.error(e);
  }
  if (problems.length) failures.push({ step: name, problems: problems.slice(0, 25), count: problems.length });
  else steps.push(name);
}

const short = (s) => (s.length > 400 ? `${s.slice(0, 400)}…(${s.length} chars)` : s);

/** Record a check; a failed one is a problem of the current step. */
function expect(cond, what) {
  checks++;
  if (!cond) problems.push(what);
  return cond;
}

/** Equal as JSON (bigints as decimal strings). */
function eq(actual, expected, what) {
  const a = toJson(actual);
  const e = toJson(expected);
  return expect(a === e, `${what}: expected ${short(e)}, got ${short(a)}`);
}

/** Byte-identical strings (bodies, JSON texts). */
function same(actual, expected, what) {
  return expect(actual === expected, `${what}: expected ${short(String(expected))}, got ${short(String(actual))}`);
}

/** JSON with object keys sorted (to compare one object served by two different methods). */
function canon(v) {
  if (Array.isArray(v)) return v.map(canon);
  if (v && typeof v === "object") return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon(v[k])]));
  return v;
}
const canonJson = (v) => JSON.stringify(canon(v));

/** A refusal: JSON-RPC error `code` whose message contains `text`. */
function refusedWith(err, code, text, what) {
  eq(err?.code, code, `${what}: error code`);
  expect(typeof err?.message === "string" && err.message.includes(text), `${what}: error message ${toJson(err?.message)} should contain ${toJson(text)}`);
}

/** `fn` (an ethers call) must throw. */
async function refusedByEthers(fn, what) {
  checks++;
  try {
    await fn();
    problems.push(`${what}: expected an error, but the call succeeded`);
  } catch {
    // refused, as it should be
  }
}

/** The body of `method([fid])` by `p` with the filter id itself replaced by "<id>" (to
 * compare the answers for two different ids). */
const filterAnswer = async (p, method, fid) => (await rpcText(p, method, [fid])).split(fid).join("<id>");

const sha256hex = (s) => crypto.createHash("sha256").update(s, "utf8").digest("hex");
const hex64 = (s) => String(s).toLowerCase().replace(/^0x/, "");
const randomHash = () => hexlify(randomBytes(32));
const randomAddress = () => hexlify(randomBytes(20));
const lower = (a) => (a == null ? a : a.toLowerCase());
const topicOf = (addr) => zeroPadValue(addr, 32).toLowerCase();
const slot32 = (n) => zeroPadValue(toBeHex(n), 32);
const qty = (n) => `0x${BigInt(n).toString(16)}`;
const TRANSFER = id("Transfer(address,address,uint256)");

/** The 2048-bit logs bloom (yellow paper M3:2048) of `logs`: 3 bits per address and topic. */
function bloomOf(logs) {
  const b = new Uint8Array(256);
  const add = (value) => {
    const h = getBytes(keccak256(value));
    for (let i = 0; i < 6; i += 2) {
      const bit = ((h[i] << 8) | h[i + 1]) & 2047;
      b[255 - (bit >> 3)] |= 1 << (bit & 7);
    }
  };
  for (const l of logs) {
    add(l.address);
    for (const t of l.topics) add(t);
  }
  return hexlify(b);
}

// ---------------------------------------------------------------------------------------
const artifacts = compile();
const PRIVATE_SUPPLY = parseEther("1000000");
const PUBLIC_SUPPLY = parseEther("5000000");
const PRIVATE_AMOUNT = 1000n;
const PUBLIC_AMOUNT = 2000n;
const TO_CAROL = parseEther("1");
const TO_ALICE = parseEther("2");
const FUNDS = parseEther("1000");
const privIface = new Interface(artifacts.PrivateToken.abi);
const pubIface = new Interface(artifacts.Token.abi);

const chainId = BigInt(await result(alice, "eth_chainId", []));
const provider = Object.fromEntries(parties.map((p) => [p.name, providerFor(p, chainId)]));
/** Alice's provider for the public deployment: every request carries the header. */
const publicDeployer = providerFor(alice, chainId, { "x-consort-eth-privacy": "public" });

/** Transactions by name: { hash, sender, visible: [party names], receipt (the auditor's raw one), tx }. */
const T = {};
const byHash = {};
/** Who may see each transaction: its sender's owner, the owner of `to`, owners of
 * addresses in its logs' indexed topics, auditors — or everyone if it is public. */
const VISIBLE = {
  deployPrivate: ["alice", "auditor"], // private target; topics: 0x0, alice
  deployPublic: ["alice", "bob", "auditor", "eve"], // public target
  privateTransfer: ["alice", "bob", "auditor"], // private target; topics: alice, bob
  etherToCarol: ["alice", "auditor"], // an EOA while the default is private; carol unbound
  etherToAlice: ["alice", "bob", "auditor"], // sent by bob to alice
  publicTransfer: ["alice", "bob", "auditor", "eve"], // public target; the last one
};
const sees = (p, hash) => {
  const t = byHash[lower(hash)];
  if (!t) throw new Error(`a transaction this test did not send: ${hash}`);
  return t.visible.includes(p.name);
};

let privateToken; // address (checksummed)
let publicToken;
const filters = {}; // party name -> { all, blocks, priv }
const fees = {}; // party name -> wei spent on gas

async function record(name, sender, response) {
  const r = await response.wait();
  eq(r.status, 1, `${name}: status`);
  const hash = lower(response.hash);
  const t = { name, hash, sender, visible: VISIBLE[name], ethersReceipt: r };
  T[name] = t;
  byHash[hash] = t;
  fees[sender.name] = (fees[sender.name] ?? 0n) + r.gasUsed * r.gasPrice;
  return r;
}

try {
  // -------------------------------------------------------------------------------------
  await step("identities and bindings before", async () => {
    if (process.env.ETH_CHAIN_ID) eq(chainId, BigInt(process.env.ETH_CHAIN_ID), "eth_chainId");
    const expected = { alice: [], bob: [lower(bob.address)], auditor: [lower(auditor.address)], eve: [] };
    for (const p of parties) {
      const r = await get(p, "/app/eth/bindings");
      eq(r.status, 200, `${p.name}: GET /app/eth/bindings status (${short(r.text)})`);
      const b = JSON.parse(r.text);
      eq(b.identity, p.id, `${p.name}: identity = SHA-256 of its certificate's DER`);
      eq((b.addresses ?? []).map(lower), expected[p.name], `${p.name}: bound addresses`);
    }
  });

  // -------------------------------------------------------------------------------------
  await step("alice binds her address by signature", async () => {
    const a = lower(alice.address);
    const r = await get(alice, `/app/eth/bind/message?address=${a}&nonce=1`);
    eq(r.status, 200, `GET /app/eth/bind/message (${short(r.text)})`);
    const m = JSON.parse(r.text);
    eq(m.identity, alice.id, "bind message identity");
    expect(typeof m.message === "string" && m.message.includes(alice.id), `the bind message names alice's identity: ${toJson(m.message)}`);
    const signature = await alice.wallet.signMessage(m.message);
    const bound = await postJson(alice, "/app/eth/bind", { address: a, nonce: 1, signature });
    eq(bound.status, 200, `POST /app/eth/bind (${short(bound.text)})`);
    // Carol's address, with a signature by alice's key: refused, carol stays unbound.
    const c = lower(carol.address);
    const cm = JSON.parse((await get(alice, `/app/eth/bind/message?address=${c}&nonce=1`)).text);
    const forged = await postJson(alice, "/app/eth/bind", { address: c, nonce: 1, signature: await alice.wallet.signMessage(cm.message) });
    eq(forged.status, 400, `POST /app/eth/bind of carol's address signed by alice's key is refused (${short(forged.text)})`);
    // (GETs are served by the node asked, which may be a moment behind the primary.)
    const after = await until(async () => {
      const v = JSON.parse((await get(alice, "/app/eth/bindings")).text);
      return (v.addresses ?? []).length ? v : null;
    }, "alice's binding on her node");
    eq(after.addresses.map(lower), [a], "alice's addresses after binding");
  });

  // -------------------------------------------------------------------------------------
  await step("filters installed before the transactions", async () => {
    // An explicit fromBlock (the current block, before any of the transactions), so that
    // eth_getFilterLogs covers them all (without one it would cover the latest block only).
    for (const p of parties) {
      const fromBlock = await result(p, "eth_blockNumber", []);
      filters[p.name] = {
        all: await result(p, "eth_newFilter", [{ fromBlock }]),
        blocks: await result(p, "eth_newBlockFilter", []),
      };
      expect(typeof filters[p.name].all === "string" && typeof filters[p.name].blocks === "string", `${p.name}: filter ids ${toJson(filters[p.name])}`);
    }
    const ids = parties.flatMap((p) => [filters[p.name].all, filters[p.name].blocks]);
    eq(new Set(ids).size, ids.length, "filter ids are distinct");
  });

  // -------------------------------------------------------------------------------------
  await step("alice deploys PrivateToken (the service default: private)", async () => {
    const w = alice.wallet.connect(provider.alice);
    const c = await new ContractFactory(artifacts.PrivateToken.abi, artifacts.PrivateToken.bytecode, w).deploy(PRIVATE_SUPPLY);
    const r = await record("deployPrivate", alice, c.deploymentTransaction());
    await c.waitForDeployment();
    privateToken = await c.getAddress();
    eq(r.contractAddress, privateToken, "receipt.contractAddress");
  });

  // -------------------------------------------------------------------------------------
  await step("alice deploys Token with x-consort-eth-privacy: public", async () => {
    const w = alice.wallet.connect(publicDeployer);
    const c = await new ContractFactory(artifacts.Token.abi, artifacts.Token.bytecode, w).deploy(PUBLIC_SUPPLY);
    const r = await record("deployPublic", alice, c.deploymentTransaction());
    await c.waitForDeployment();
    publicToken = await c.getAddress();
    eq(r.contractAddress, publicToken, "receipt.contractAddress");
  });

  // -------------------------------------------------------------------------------------
  await step("filters on PrivateToken's Transfer events installed", async () => {
    for (const p of parties) {
      const fromBlock = await result(p, "eth_blockNumber", []);
      filters[p.name].priv = await result(p, "eth_newFilter", [{ address: privateToken, topics: [TRANSFER], fromBlock }]);
    }
  });

  // -------------------------------------------------------------------------------------
  await step("transfers: tokens to bob, ether to carol and to alice", async () => {
    const aw = alice.wallet.connect(provider.alice);
    const priv = new Contract(privateToken, artifacts.PrivateToken.abi, aw);
    const pub = new Contract(publicToken, artifacts.Token.abi, aw);
    await record("privateTransfer", alice, await priv.transfer(bob.address, PRIVATE_AMOUNT));
    await record("etherToCarol", alice, await aw.sendTransaction({ to: carol.address, value: TO_CAROL }));
    await record("etherToAlice", bob, await bob.wallet.connect(provider.bob).sendTransaction({ to: alice.address, value: TO_ALICE }));
    // The last one is public: once a party's node serves it, it has everything before.
    await record("publicTransfer", alice, await pub.transfer(bob.address, PUBLIC_AMOUNT));
  });

  // -------------------------------------------------------------------------------------
  await step("the auditor and each sender see every receipt", async () => {
    const logCounts = { deployPrivate: 1, deployPublic: 1, privateTransfer: 1, etherToCarol: 0, etherToAlice: 0, publicTransfer: 1 };
    for (const t of Object.values(T)) {
      t.receipt = await until(() => result(auditor, "eth_getTransactionReceipt", [t.hash]), `the auditor's receipt of ${t.name}`);
      t.tx = await result(auditor, "eth_getTransactionByHash", [t.hash]);
      same(JSON.stringify(await result(t.sender, "eth_getTransactionReceipt", [t.hash])), JSON.stringify(t.receipt), `${t.name}: the sender's receipt = the auditor's`);
      same(JSON.stringify(await result(t.sender, "eth_getTransactionByHash", [t.hash])), JSON.stringify(t.tx), `${t.name}: the sender's transaction = the auditor's`);
      eq([t.receipt.status, lower(t.receipt.transactionHash), lower(t.receipt.from)], ["0x1", t.hash, lower(t.sender.address)], `${t.name}: receipt status, hash, from`);
      eq([lower(t.tx?.hash), lower(t.tx?.from), t.tx?.blockNumber], [t.hash, lower(t.sender.address), t.receipt.blockNumber], `${t.name}: transaction hash, from, block`);
      eq(t.receipt.logs.length, logCounts[t.name], `${t.name}: number of logs`);
    }
    const mint = (token) => [lower(token), [TRANSFER, topicOf(ZeroAddress), topicOf(alice.address)]];
    const logOf = (t) => [lower(t.receipt.logs[0]?.address), t.receipt.logs[0]?.topics.map(lower)];
    eq(logOf(T.deployPrivate), mint(privateToken), "PrivateToken's mint log");
    eq(logOf(T.deployPublic), mint(publicToken), "Token's mint log");
    eq(logOf(T.privateTransfer), [lower(privateToken), [TRANSFER, topicOf(alice.address), topicOf(bob.address)]], "PrivateToken transfer log");
    eq(logOf(T.publicTransfer), [lower(publicToken), [TRANSFER, topicOf(alice.address), topicOf(bob.address)]], "Token transfer log");
    eq(lower(T.deployPrivate.receipt.contractAddress), lower(privateToken), "PrivateToken address in the auditor's receipt");
    eq(lower(T.etherToCarol.receipt.to), lower(carol.address), "ether to carol: to");
    eq(lower(T.etherToAlice.receipt.to), lower(alice.address), "ether to alice: to");
  });

  // -------------------------------------------------------------------------------------
  await step("transactions and receipts by hash", async () => {
    for (const p of parties) {
      const nothing = randomHash();
      const noTx = await rpcText(p, "eth_getTransactionByHash", [nothing]);
      const noReceipt = await rpcText(p, "eth_getTransactionReceipt", [nothing]);
      eq(JSON.parse(noTx).result, null, `${p.name}: eth_getTransactionByHash of an unknown hash`);
      eq(JSON.parse(noReceipt).result, null, `${p.name}: eth_getTransactionReceipt of an unknown hash`);
      for (const t of Object.values(T)) {
        const tx = await rpcText(p, "eth_getTransactionByHash", [t.hash]);
        const receipt = await rpcText(p, "eth_getTransactionReceipt", [t.hash]);
        if (sees(p, t.hash)) {
          same(JSON.stringify(JSON.parse(tx).result), JSON.stringify(t.tx), `${p.name} sees ${t.name}: the transaction the auditor sees`);
          same(JSON.stringify(JSON.parse(receipt).result), JSON.stringify(t.receipt), `${p.name} sees ${t.name}: the receipt the auditor sees`);
        } else {
          same(tx, noTx, `${p.name} may not see ${t.name}: eth_getTransactionByHash answers as for an unknown hash`);
          same(receipt, noReceipt, `${p.name} may not see ${t.name}: eth_getTransactionReceipt answers as for an unknown hash`);
        }
      }
    }
  });

  // -------------------------------------------------------------------------------------
  await step("Consort receipts: GET /app/eth/receipt", async () => {
    const blockTxs = {};
    for (const t of Object.values(T)) {
      blockTxs[t.receipt.blockNumber] ??= (await result(auditor, "eth_getBlockByNumber", [t.receipt.blockNumber, false])).transactions;
    }
    const served = {}; // hash -> first visible party's body
    const fetchReceipt = (p, hash) => get(p, `/app/eth/receipt?hash=${hash}`);
    for (const p of parties) {
      // Its node has committed (and signed) everything once it serves the last transaction.
      await until(async () => ((await fetchReceipt(p, T.publicTransfer.hash)).status === 200 ? true : null),
        `${p.name}'s node serving the Consort receipt of the last transaction`, 20_000, 50);
      const unknown = await fetchReceipt(p, randomHash());
      eq(unknown.status, 404, `${p.name}: /app/eth/receipt of an unknown hash`);
      for (const t of Object.values(T)) {
        const r = await fetchReceipt(p, t.hash);
        if (!sees(p, t.hash)) {
          eq(r.status, unknown.status, `${p.name} may not see ${t.name}: /app/eth/receipt status as for an unknown hash`);
          same(r.text, unknown.text, `${p.name} may not see ${t.name}: /app/eth/receipt body as for an unknown hash`);
          continue;
        }
        if (!eq(r.status, 200, `${p.name} sees ${t.name}: /app/eth/receipt status (${short(r.text)})`)) continue;
        const b = JSON.parse(r.text);
        expect(/^\d+\.\d+$/.test(b.transaction_id), `${p.name}, ${t.name}: transaction_id ${toJson(b.transaction_id)}`);
        eq(canonJson(b.ethereum_receipt), canonJson(t.receipt), `${p.name}, ${t.name}: ethereum_receipt = eth_getTransactionReceipt`);
        if (!expect(typeof b.claims === "string" && typeof b.claim === "string", `${p.name}, ${t.name}: claims and claim are JSON texts`)) continue;
        const claims = JSON.parse(b.claims);
        expect(Array.isArray(claims) && claims.every((c) => /^[0-9a-f]{64}$/.test(hex64(c))), `${p.name}, ${t.name}: claims is an array of SHA-256 digests: ${short(b.claims)}`);
        eq(claims.length, blockTxs[t.receipt.blockNumber].length, `${p.name}, ${t.name}: one claim per transaction of the block`);
        eq(sha256hex(b.claims), hex64(b.receipt?.leaf_components?.claims_digest), `${p.name}, ${t.name}: SHA-256(claims) = the leaf's claims_digest`);
        expect(claims.map(hex64).includes(sha256hex(b.claim)), `${p.name}, ${t.name}: SHA-256(claim) is among the block's claims`);
        expect(b.claim.toLowerCase().includes(hex64(t.hash)), `${p.name}, ${t.name}: the claim is this transaction's receipt: ${short(b.claim)}`);
        if (served[t.hash]) {
          eq([b.transaction_id, b.claims, b.claim], [served[t.hash].transaction_id, served[t.hash].claims, served[t.hash].claim], `${p.name}, ${t.name}: the same claims as ${served[t.hash].by}`);
        } else {
          served[t.hash] = { ...b, by: p.name };
        }
      }
    }
  });

  // -------------------------------------------------------------------------------------
  await step("the node's own endpoints: /app/receipt and the logging app's historical reads", async () => {
    for (const t of Object.values(T)) {
      const a = await get(auditor, `/app/eth/receipt?hash=${t.hash}`);
      if (!eq(a.status, 200, `auditor: /app/eth/receipt of ${t.name} (${short(a.text)})`)) continue;
      const { transaction_id: txid, claims } = JSON.parse(a.text);
      const seqno = txid.split(".")[1];
      // What the Ethereum receipt would show: its hash, its parties, its logs' data.
      const r0 = t.receipt;
      const secrets = [t.hash, r0.from, r0.to, r0.contractAddress, ...r0.logs.map((l) => l.data)]
        .filter((s) => typeof s === "string" && !/^0x0*$/.test(s))
        .map((s) => hex64(s));
      for (const p of parties) {
        // The CCF receipt of the block, to any user: digests only.
        const r = await get(p, `/app/receipt?transaction_id=${txid}`);
        if (!eq(r.status, 200, `${p.name}: /app/receipt of ${t.name}'s block (${short(r.text)})`)) continue;
        const b = JSON.parse(r.text);
        eq(hex64(b.leaf_components?.claims_digest), sha256hex(claims), `${p.name}, ${t.name}: /app/receipt's claims digest is SHA-256 of the block's claims`);
        const text = r.text.toLowerCase();
        for (const s of secrets) expect(!text.includes(s), `${p.name}, ${t.name}: /app/receipt shows no receipt content (${s.slice(0, 16)}…)`);
        // The logging app's historical reads see only the logging app's tables.
        for (const scope of ["private", "public"]) {
          for (const id of [0, 1, 2]) {
            const h = await get(p, `/app/log/${scope}/historical?seqno=${seqno}&id=${id}`);
            eq(h.status, 404, `${p.name}, ${t.name}: /app/log/${scope}/historical at its seqno, id ${id} (${short(h.text)})`);
            eq(JSON.parse(h.text)?.error?.code, "ResourceNotFound", `${p.name}, ${t.name}: /app/log/${scope}/historical error code`);
            const ht = h.text.toLowerCase();
            for (const s of secrets) expect(!ht.includes(s), `${p.name}, ${t.name}: /app/log/${scope}/historical shows no receipt content`);
          }
        }
      }
    }
  });

  // -------------------------------------------------------------------------------------
  const first = () => T.deployPrivate.receipt.blockNumber;
  const last = () => T.publicTransfer.receipt.blockNumber;
  await step("logs: eth_getLogs", async () => {
    const range = { fromBlock: first(), toBlock: last() };
    const all = await result(auditor, "eth_getLogs", [range]);
    const fromReceipts = Object.values(T).flatMap((t) => t.receipt.logs);
    eq(canonJson(all), canonJson(fromReceipts), "the auditor's logs over the range = the receipts' logs");
    const criteria = {
      everything: range,
      "PrivateToken's": { ...range, address: privateToken },
      "Transfers to bob": { ...range, topics: [TRANSFER, null, topicOf(bob.address)] },
      "in privateTransfer's block": { blockHash: T.privateTransfer.receipt.blockHash },
    };
    const reference = {};
    for (const [what, c] of Object.entries(criteria)) reference[what] = await result(auditor, "eth_getLogs", [c]);
    eq(reference["PrivateToken's"].length, 2, "PrivateToken's logs (mint, transfer) for the auditor");
    eq(reference["Transfers to bob"].length, 2, "Transfers to bob for the auditor");
    for (const p of parties) {
      for (const [what, c] of Object.entries(criteria)) {
        const got = await result(p, "eth_getLogs", [c]);
        same(JSON.stringify(got), JSON.stringify(reference[what].filter((l) => sees(p, l.transactionHash))), `${p.name}: ${what} logs`);
      }
    }
    // A party who sees nothing of PrivateToken gets what an address without logs gets.
    const none = await rpcText(eve, "eth_getLogs", [{ ...range, address: randomAddress() }]);
    same(await rpcText(eve, "eth_getLogs", [{ ...range, address: privateToken }]), none, "eve: PrivateToken's logs as a nonexistent address's");
  });

  // -------------------------------------------------------------------------------------
  await step("blocks: eth_getBlockByNumber / eth_getBlockByHash, hashes and full", async () => {
    const numbers = [...new Set(Object.values(T).map((t) => t.receipt.blockNumber))];
    for (const n of numbers) {
      const refHashes = await result(auditor, "eth_getBlockByNumber", [n, false]);
      const refFull = await result(auditor, "eth_getBlockByNumber", [n, true]);
      const ours = Object.values(T).filter((t) => t.receipt.blockNumber === n).map((t) => t.hash);
      eq(refHashes.transactions.map(lower).filter((h) => ours.includes(h)).length, ours.length, `block ${n} lists its transactions to the auditor`);
      eq(refFull.transactions.map((x) => lower(x.hash)), refHashes.transactions.map(lower), `block ${n}: full and hashes list the same transactions`);
      // The block's own fields are those of all its transactions (compared to every
      // party's below): its gas used is the last receipt's cumulative gas.
      const lastReceipt = byHash[lower(refHashes.transactions.at(-1))]?.receipt;
      eq([refHashes.number, lower(refHashes.hash), refHashes.gasUsed], [n, lower(lastReceipt?.blockHash), lastReceipt?.cumulativeGasUsed], `block ${n}: number, hash, gasUsed`);
      const logsOf = (hashes) => hashes.flatMap((h) => byHash[lower(h)]?.receipt.logs ?? []);
      eq(lower(refHashes.logsBloom), bloomOf(logsOf(refHashes.transactions)), `block ${n}: the auditor's logsBloom is that of all its logs`);
      for (const x of refFull.transactions) {
        if (byHash[lower(x.hash)]) eq(canonJson(x), canonJson(byHash[lower(x.hash)].tx), `block ${n}: the full transaction ${x.hash} = eth_getTransactionByHash`);
      }
      for (const p of parties) {
        // Hidden transactions are left out, and so are their logs from the bloom (it would
        // tell who took part in them); everything else, gasUsed included, is unchanged.
        const visible = refHashes.transactions.filter((h) => sees(p, h));
        const logsBloom = bloomOf(logsOf(visible));
        const expHashes = { ...refHashes, logsBloom, transactions: visible };
        const expFull = { ...refFull, logsBloom, transactions: refFull.transactions.filter((x) => sees(p, x.hash)) };
        const variants = [
          ["by number, hashes", "eth_getBlockByNumber", [n, false], expHashes],
          ["by number, full", "eth_getBlockByNumber", [n, true], expFull],
          ["by hash, hashes", "eth_getBlockByHash", [refHashes.hash, false], expHashes],
          ["by hash, full", "eth_getBlockByHash", [refHashes.hash, true], expFull],
        ];
        for (const [what, method, params, expected] of variants) {
          same(JSON.stringify(await result(p, method, params)), JSON.stringify(expected), `${p.name}: block ${n} ${what} (its visible transactions and their logs' bloom, the rest unchanged)`);
        }
      }
    }
  });

  // -------------------------------------------------------------------------------------
  await step("filters: eth_getFilterChanges / eth_getFilterLogs / block filters", async () => {
    const everything = await result(auditor, "eth_getLogs", [{ fromBlock: first(), toBlock: last() }]);
    const privLogs = await result(auditor, "eth_getLogs", [{ fromBlock: first(), toBlock: last(), address: privateToken, topics: [TRANSFER] }]);
    const blockHashes = Object.values(T).map((t) => lower(t.receipt.blockHash));
    for (const p of parties) {
      const f = filters[p.name];
      const expAll = JSON.stringify(everything.filter((l) => sees(p, l.transactionHash)));
      // The private token's filter starts after its deployment: the mint is not in it.
      const expPriv = JSON.stringify(privLogs.filter((l) => l.transactionHash !== T.deployPrivate.hash && sees(p, l.transactionHash)));
      same(JSON.stringify(await result(p, "eth_getFilterChanges", [f.all])), expAll, `${p.name}: changes of its filter on everything`);
      same(JSON.stringify(await result(p, "eth_getFilterChanges", [f.all])), "[]", `${p.name}: nothing new on the second poll`);
      same(JSON.stringify(await result(p, "eth_getFilterLogs", [f.all])), expAll, `${p.name}: eth_getFilterLogs of its filter on everything`);
      same(JSON.stringify(await result(p, "eth_getFilterChanges", [f.priv])), expPriv, `${p.name}: changes of its filter on PrivateToken's Transfers`);
      same(JSON.stringify(await result(p, "eth_getFilterLogs", [f.priv])), expPriv, `${p.name}: eth_getFilterLogs of its filter on PrivateToken's Transfers`);
      // Blocks are not hidden (only their transactions): every party gets every new block.
      const seen = (await result(p, "eth_getFilterChanges", [f.blocks])).map(lower);
      eq(blockHashes.filter((h) => !seen.includes(h)), [], `${p.name}: the block filter reports the blocks of every transaction`);
      eq(new Set(seen).size, seen.length, `${p.name}: no block reported twice`);
      const positions = blockHashes.map((h) => seen.indexOf(h));
      eq(positions, [...positions].sort((a, b) => a - b), `${p.name}: blocks reported in order`);
      const again = (await result(p, "eth_getFilterChanges", [f.blocks])).map(lower);
      eq(again.filter((h) => seen.includes(h)), [], `${p.name}: the second poll reports only newer blocks`);
    }
  });

  // -------------------------------------------------------------------------------------
  await step("filters belong to their creator", async () => {
    for (const [i, owner] of parties.entries()) {
      const other = parties[(i + 1) % parties.length];
      // Unknown ids: one never issued, and one of the other's own, uninstalled.
      const gone = await result(other, "eth_newFilter", [{}]);
      eq(await result(other, "eth_uninstallFilter", [gone]), true, `${other.name}: uninstalls its own filter`);
      const neverIssued = hexlify(randomBytes(16));
      for (const method of ["eth_getFilterChanges", "eth_getFilterLogs", "eth_uninstallFilter"]) {
        const answer = (fid) => filterAnswer(other, method, fid);
        const unknown = await answer(neverIssued);
        same(await answer(gone), unknown, `${other.name}: ${method} of an uninstalled filter as of one never issued`);
        same(await answer(filters[owner.name].all), unknown, `${other.name}: ${method} of ${owner.name}'s filter as of an unknown one`);
        if (method !== "eth_uninstallFilter") refusedWith(JSON.parse(unknown).error, -32000, "filter not found", `${other.name}: ${method} of an unknown filter`);
      }
      // Still there for its owner.
      eq(await result(owner, "eth_getFilterChanges", [filters[owner.name].all]), [], `${owner.name}: its filter survives another's uninstall`);
    }
  });

  // -------------------------------------------------------------------------------------
  await step("storage and code", async () => {
    const aliceBalanceSlot = keccak256(AbiCoder.defaultAbiCoder().encode(["address", "uint256"], [alice.address, 0]));
    const bobBalanceSlot = keccak256(AbiCoder.defaultAbiCoder().encode(["address", "uint256"], [bob.address, 0]));
    // OpenZeppelin 5 ERC20: _balances in slot 0, _totalSupply in slot 2.
    const privateSlots = [["0x2", slot32(PRIVATE_SUPPLY)], [aliceBalanceSlot, slot32(PRIVATE_SUPPLY - PRIVATE_AMOUNT)]];
    const publicSlots = [["0x2", slot32(PUBLIC_SUPPLY)], [bobBalanceSlot, slot32(PUBLIC_AMOUNT)]];
    const refusals = {};
    for (const p of parties) {
      for (const [slot, value] of privateSlots) {
        if (p === auditor) {
          eq(await result(p, "eth_getStorageAt", [privateToken, slot, "latest"]), value, `auditor: PrivateToken storage ${slot}`);
        } else {
          const text = await rpcText(p, "eth_getStorageAt", [privateToken, slot, "latest"]);
          refusedWith(JSON.parse(text).error, -32000, "private", `${p.name}: PrivateToken storage ${slot}`);
          refusals[`storage ${slot}`] ??= text;
          same(text, refusals[`storage ${slot}`], `${p.name}: the same refusal as the others' for PrivateToken storage ${slot}`);
        }
      }
      for (const [slot, value] of publicSlots) {
        eq(await result(p, "eth_getStorageAt", [publicToken, slot, "latest"]), value, `${p.name}: Token storage ${slot}`);
      }
      if (p === alice || p === auditor) {
        eq(await result(p, "eth_getCode", [privateToken, "latest"]), artifacts.PrivateToken.deployedBytecode, `${p.name}: PrivateToken's code (deployer, auditor)`);
      } else {
        const text = await rpcText(p, "eth_getCode", [privateToken, "latest"]);
        eq(JSON.parse(text).error?.code, -32000, `${p.name}: PrivateToken's code refused`);
        refusals.code ??= text;
        same(text, refusals.code, `${p.name}: the same refusal as the others' for PrivateToken's code`);
      }
      eq(await result(p, "eth_getCode", [publicToken, "latest"]), artifacts.Token.deployedBytecode, `${p.name}: Token's code`);
    }
    // Through ethers too: the deployer's getCode, and another's refusal as an error.
    eq(await provider.alice.getCode(privateToken), artifacts.PrivateToken.deployedBytecode, "alice: provider.getCode(PrivateToken)");
    await refusedByEthers(() => provider.bob.getCode(privateToken), "bob: provider.getCode(PrivateToken)");
  });

  // -------------------------------------------------------------------------------------
  await step("balances and nonces", async () => {
    const fresh = randomAddress();
    const accounts = [
      ["alice", alice.address, FUNDS - TO_CAROL + TO_ALICE - (fees.alice ?? 0n), 5, alice],
      ["bob", bob.address, FUNDS - TO_ALICE - (fees.bob ?? 0n), 1, bob],
      ["auditor", auditor.address, FUNDS, 0, auditor],
      ["carol", carol.address, FUNDS + TO_CAROL, 0, null],
    ];
    for (const p of parties) {
      const hiddenBalance = await rpcText(p, "eth_getBalance", [fresh, "latest"]);
      const hiddenNonce = await rpcText(p, "eth_getTransactionCount", [fresh, "latest"]);
      eq(JSON.parse(hiddenBalance).result, "0x0", `${p.name}: balance of a fresh address`);
      eq(JSON.parse(hiddenNonce).result, "0x0", `${p.name}: nonce of a fresh address`);
      for (const [name, addr, balance, nonce, owner] of accounts) {
        const balanceText = await rpcText(p, "eth_getBalance", [addr, "latest"]);
        const nonceTexts = [await rpcText(p, "eth_getTransactionCount", [addr, "latest"]), await rpcText(p, "eth_getTransactionCount", [addr, "pending"])];
        if (p === auditor || p === owner) {
          eq(BigInt(JSON.parse(balanceText).result), balance, `${p.name}: ${name}'s balance`);
          for (const t of nonceTexts) eq(JSON.parse(t).result, qty(nonce), `${p.name}: ${name}'s nonce`);
        } else {
          same(balanceText, hiddenBalance, `${p.name}: ${name}'s balance reads as a fresh address's`);
          for (const t of nonceTexts) same(t, hiddenNonce, `${p.name}: ${name}'s nonce reads as a fresh address's`);
        }
      }
      // Public contracts: everyone.
      for (const method of ["eth_getBalance", "eth_getTransactionCount"]) {
        same(JSON.stringify(await result(p, method, [publicToken, "latest"])), JSON.stringify(await result(auditor, method, [publicToken, "latest"])), `${p.name}: ${method} of Token`);
      }
    }
    // ethers' own view of the same.
    eq(await provider.alice.getBalance(alice.address), FUNDS - TO_CAROL + TO_ALICE - (fees.alice ?? 0n), "alice: provider.getBalance(alice)");
    eq(await provider.eve.getBalance(alice.address), 0n, "eve: provider.getBalance(alice)");
    eq(await provider.alice.getTransactionCount(alice.address, "pending"), 5, "alice: provider.getTransactionCount(alice, pending)");
  });

  // -------------------------------------------------------------------------------------
  await step("eth_call: msg.sender-guarded balanceOf, myBalance", async () => {
    const call = (p, data, from, to = privateToken) => result(p, "eth_call", [{ ...(from ? { from } : {}), to, data }, "latest"]);
    const callErr = (p, data, from, to = privateToken) => rpcError(p, "eth_call", [{ ...(from ? { from } : {}), to, data }, "latest"]);
    const bal = (a) => privIface.encodeFunctionData("balanceOf", [a]);
    const my = privIface.encodeFunctionData("myBalance");
    const out = (v) => privIface.encodeFunctionResult("balanceOf", [v]);
    const denied = (caller, account) => privIface.encodeErrorResult("BalanceIsPrivate", [caller, account]);
    const aliceHas = PRIVATE_SUPPLY - PRIVATE_AMOUNT;

    eq(await call(alice, bal(alice.address)), out(aliceHas), "alice: balanceOf(alice), no from (her first bound address)");
    eq(await call(alice, bal(alice.address), alice.address), out(aliceHas), "alice: balanceOf(alice) from alice");
    eq(await call(alice, my), out(aliceHas), "alice: myBalance()");
    let e = await callErr(bob, bal(alice.address));
    eq([e.code, lower(e.data)], [3, lower(denied(bob.address, alice.address))], "bob: balanceOf(alice) reverts BalanceIsPrivate(bob, alice)");
    eq(await call(bob, bal(bob.address)), out(PRIVATE_AMOUNT), "bob: balanceOf(bob)");
    eq(await call(bob, my), out(PRIVATE_AMOUNT), "bob: myBalance()");
    // Auditors call as anyone; without from, as their own address.
    eq(await call(auditor, bal(alice.address), alice.address), out(aliceHas), "auditor: balanceOf(alice) from alice");
    eq(await call(auditor, my, bob.address), out(PRIVATE_AMOUNT), "auditor: myBalance() from bob");
    eq(await call(auditor, my), out(0n), "auditor: myBalance(), no from");
    e = await callErr(auditor, bal(alice.address));
    eq([e.code, lower(e.data)], [3, lower(denied(auditor.address, alice.address))], "auditor: balanceOf(alice), no from, reverts");
    // The public token: anyone bound calls.
    for (const p of [alice, bob, auditor]) {
      eq(await call(p, pubIface.encodeFunctionData("balanceOf", [alice.address]), null, publicToken), out(PUBLIC_SUPPLY - PUBLIC_AMOUNT), `${p.name}: Token.balanceOf(alice)`);
    }
    // Through ethers: a Contract on a provider (no from) and on a Wallet (from = its address).
    eq(await new Contract(privateToken, artifacts.PrivateToken.abi, provider.alice).balanceOf(alice.address), aliceHas, "ethers, alice: balanceOf(alice)");
    eq(await new Contract(privateToken, artifacts.PrivateToken.abi, alice.wallet.connect(provider.alice)).myBalance(), aliceHas, "ethers, alice's wallet: myBalance()");
    eq(await new Contract(privateToken, artifacts.PrivateToken.abi, bob.wallet.connect(provider.bob)).myBalance(), PRIVATE_AMOUNT, "ethers, bob's wallet: myBalance()");
    const ee = await expectError(() => new Contract(privateToken, artifacts.PrivateToken.abi, provider.bob).balanceOf(alice.address), "ethers, bob: balanceOf(alice)");
    eq([ee.code, ee.revert?.name, ...(ee.revert?.args ?? [])], ["CALL_EXCEPTION", "BalanceIsPrivate", bob.address, alice.address], "ethers, bob: balanceOf(alice) is a decoded BalanceIsPrivate revert");
  });

  // -------------------------------------------------------------------------------------
  await step("eth_estimateGas", async () => {
    const transfer = privIface.encodeFunctionData("transfer", [bob.address, 1n]);
    const est = (p, from, data = transfer) => result(p, "eth_estimateGas", [{ ...(from ? { from } : {}), to: privateToken, data }]);
    const g = await est(alice, null);
    expect(BigInt(g) > 21000n, `alice: estimate of a PrivateToken transfer (${g})`);
    eq(await est(alice, alice.address), g, "alice: the same estimate with from = alice");
    eq(await est(auditor, alice.address), g, "auditor: the same estimate from alice");
    const e = await rpcError(bob, "eth_estimateGas", [{ to: privateToken, data: privIface.encodeFunctionData("balanceOf", [alice.address]) }]);
    eq([e.code, lower(e.data)], [3, lower(privIface.encodeErrorResult("BalanceIsPrivate", [bob.address, alice.address]))], "bob: estimate of balanceOf(alice) reverts");
    eq(await provider.alice.estimateGas({ to: privateToken, data: transfer }), BigInt(g), "ethers, alice: provider.estimateGas");
  });

  // -------------------------------------------------------------------------------------
  await step("eth_call / eth_estimateGas with a from that is not the caller's", async () => {
    const data = privIface.encodeFunctionData("myBalance");
    const cases = [[bob, alice.address], [alice, carol.address], [alice, bob.address], [eve, alice.address], [eve, bob.address], [bob, auditor.address]];
    for (const [p, from] of cases) {
      for (const [method, params] of [["eth_call", [{ from, to: privateToken, data }, "latest"]], ["eth_estimateGas", [{ from, to: privateToken, data }]], ["eth_call", [{ from, to: publicToken, data: pubIface.encodeFunctionData("totalSupply") }, "latest"]]]) {
        refusedWith(await rpcError(p, method, params), -32000, "from is not bound to the caller", `${p.name}: ${method} from ${from}`);
      }
    }
  });

  // -------------------------------------------------------------------------------------
  await step("eth_sendRawTransaction from an address not bound to the caller", async () => {
    const aliceNonce = Number(await result(alice, "eth_getTransactionCount", [alice.address, "latest"]));
    eq(aliceNonce, 5, "alice's nonce");
    const fromCarol = await carol.signTransaction({ to: alice.address, value: 1n, nonce: 0, gasLimit: 21000, gasPrice: 0, chainId, type: 0 });
    const fromAlice = await alice.wallet.signTransaction({ to: carol.address, value: 1n, nonce: aliceNonce, gasLimit: 21000, gasPrice: 0, chainId, type: 0 });
    for (const [p, raw, who] of [[alice, fromCarol, "carol"], [bob, fromAlice, "alice"], [eve, fromAlice, "alice"], [auditor, fromCarol, "carol"]]) {
      refusedWith(await rpcError(p, "eth_sendRawTransaction", [raw]), -32003, "is not bound to the caller", `${p.name} sending ${who}'s transaction`);
    }
    // Through ethers: broadcastTransaction throws.
    await refusedByEthers(() => provider.alice.broadcastTransaction(fromCarol), "ethers, alice: broadcastTransaction(carol's)");
    eq(await result(auditor, "eth_getTransactionCount", [carol.address, "latest"]), "0x0", "carol's nonce is unchanged");
    eq(await result(auditor, "eth_getTransactionCount", [alice.address, "latest"]), "0x5", "alice's nonce is unchanged");
    eq(BigInt(await result(auditor, "eth_getBalance", [carol.address, "latest"])), FUNDS + TO_CAROL, "carol's balance is unchanged");
  });

  // -------------------------------------------------------------------------------------
  await step("filters uninstalled", async () => {
    for (const p of parties) {
      const f = filters[p.name];
      const unknown = await filterAnswer(p, "eth_getFilterChanges", hexlify(randomBytes(16)));
      for (const k of ["all", "blocks", "priv"]) {
        eq(await result(p, "eth_uninstallFilter", [f[k]]), true, `${p.name}: uninstalls its ${k} filter`);
        same(await filterAnswer(p, "eth_getFilterChanges", f[k]), unknown, `${p.name}: its uninstalled ${k} filter answers as an unknown one`);
      }
    }
  });

  const summary = {
    ok: failures.length === 0,
    chainId,
    nodes: urls.length,
    steps: steps.length + failures.length,
    passed: steps,
    failed: failures,
    checks,
    private_token: privateToken ?? null,
    public_token: publicToken ?? null,
    private_supply_slot: slot32(PRIVATE_SUPPLY),
    transactions: Object.fromEntries(Object.values(T).map((t) => [t.name, t.hash])),
    users: Object.fromEntries(parties.map((p) => [p.name, p.id])),
    addresses: { alice: getAddress(alice.address), bob: getAddress(bob.address), auditor: getAddress(auditor.address), carol: getAddress(carol.address) },
  };
  for (const f of failures) console.error(`privacy.mjs FAILED in step "${f.step}" (${f.count} problems):\n  ${f.problems.join("\n  ")}`);
  console.log(toJson(summary));
  for (const p of [...Object.values(provider), publicDeployer]) p.destroy();
  process.exit(failures.length ? 1 : 0);
} catch (e) {
  console.error(`privacy.mjs FAILED: ${e.shortMessage ?? e.message}`);
  console.error(e);
  process.exit(1);
}
