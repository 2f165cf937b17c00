// Standard Ethereum tools against Consort with a bearer token, as the sandbox prints them:
// Foundry's `cast` (npm @foundry-rs/cast-linux-amd64, unmodified) and a viem script. No
// client certificate: the token (a JWT of an issuer governance trusts, acting as user0)
// is the only credential; TLS trust is the service certificate.
//
// Environment:
//   CAST_RPC_URL   https://…/app/eth of the node cast talks to
//   VIEM_RPC_URL   https://…/app/eth of the node viem talks to (another one)
//   TOKEN_FILE     the JWT (consort token mint --out)
//   CONSORT_CA     service_cert.pem (cast: SSL_CERT_FILE; viem: NODE_EXTRA_CA_CERTS, which
//                  the test sets for this process)
//   ETH_KEY        0x private key of a funded address bound to user0
//   HIDDEN_ADDRESS a funded address bound to nobody (the private default hides it)
//   ETH_CHAIN_ID   the chain id
//
// Exit code 0 and a one-line JSON summary on stdout on success.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createPublicClient, createWalletClient, defineChain, http, keccak256, parseAbiItem, toHex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { compile } from "./compile.mjs";
import { env } from "./consort.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const castBin = path.join(here, "node_modules/@foundry-rs/cast-linux-amd64/bin/cast");
const token = fs.readFileSync(env("TOKEN_FILE"), "utf8").trim();
const chainId = Number(env("ETH_CHAIN_ID"));
const account = privateKeyToAccount(env("ETH_KEY"));
const { Counter } = compile();
const COUNTED = keccak256(toHex("Counted(address,uint256)"));

let checks = 0;
const problems = [];
function eq(actual, expected, what) {
  checks++;
  const big = (_, v) => (typeof v === "bigint" ? `${v}n` : v);
  const [a, e] = [JSON.stringify(actual, big), JSON.stringify(expected, big)];
  if (a !== e) problems.push(`${what}: expected ${e}, got ${a}`);
}
function expect(cond, what) {
  checks++;
  if (!cond) problems.push(what);
}

/** `cast args…` with the sandbox's recipe: ETH_RPC_URL, ETH_RPC_HEADERS, SSL_CERT_FILE. */
function cast(...args) {
  const r = spawnSync(castBin, args, {
    encoding: "utf8",
    timeout: 60_000,
    env: {
      ...process.env,
      ETH_RPC_URL: env("CAST_RPC_URL"),
      ETH_RPC_HEADERS: `Authorization: Bearer ${token}`,
      SSL_CERT_FILE: env("CONSORT_CA"),
    },
  });
  if (r.status !== 0) throw new Error(`cast ${args.join(" ")} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return r.stdout.trim();
}

// ---- cast ---------------------------------------------------------------------------
const me = account.address;
eq(cast("chain-id"), String(chainId), "cast chain-id");
const height = Number(cast("block-number"));
expect(Number.isInteger(height) && height > 0, `cast block-number: ${height}`);
eq(cast("balance", me), "1000000000000000000000", "cast balance of user0's address (1000 ether)");
eq(cast("balance", env("HIDDEN_ADDRESS")), "0", "cast balance of an address user0 may not see");
eq(cast("nonce", me), "0", "cast nonce");

const deployed = JSON.parse(cast("send", "--private-key", env("ETH_KEY"), "--json", "--create", Counter.bytecode));
eq(deployed.status, "0x1", "cast send --create: status");
const counter = deployed.contractAddress;
expect(/^0x[0-9a-fA-F]{40}$/.test(counter ?? ""), `cast send --create: contractAddress ${counter}`);
eq(cast("code", counter), Counter.deployedBytecode, "cast code: the deployer reads its contract's code");
eq(cast("call", counter, "count()(uint256)"), "0", "cast call count() before");
const gas = Number(cast("estimate", counter, "add(uint256)", "5", "--from", me));
expect(gas > 21_000 && gas < 100_000, `cast estimate add(5): ${gas}`);

const sent = JSON.parse(cast("send", "--private-key", env("ETH_KEY"), "--json", counter, "add(uint256)", "5"));
eq(sent.status, "0x1", "cast send add(5): status");
const receipt = JSON.parse(cast("receipt", sent.transactionHash, "--json"));
eq(receipt.transactionHash, sent.transactionHash, "cast receipt: hash");
eq(receipt.status, "0x1", "cast receipt: status");
eq(receipt.from.toLowerCase(), me.toLowerCase(), "cast receipt: from");
eq(receipt.to.toLowerCase(), counter.toLowerCase(), "cast receipt: to");
eq(receipt.logs.length, 1, "cast receipt: one log");
eq(receipt.logs[0]?.topics?.[0], COUNTED, "cast receipt: the Counted event");
eq(receipt.logs[0]?.topics?.[1], "0x" + me.slice(2).toLowerCase().padStart(64, "0"), "cast receipt: indexed by");
eq(BigInt(receipt.logs[0]?.data ?? "0x"), 5n, "cast receipt: count 5");
eq(cast("call", counter, "count()(uint256)"), "5", "cast call count() after");
eq(cast("call", counter, "count()(uint256)", "--block", String(BigInt(deployed.blockNumber))), "0", "cast call --block: count() at the deployment's block");
eq(cast("rpc", "net_peerCount"), '"0x2"', "cast rpc net_peerCount: the two other nodes");
const logs = JSON.parse(cast("logs", "--json", "--from-block", String(deployed.blockNumber), "--address", counter,
  "Counted(address indexed,uint256)"));
eq(logs.length, 1, "cast logs: one Counted event");
eq(logs[0]?.transactionHash, sent.transactionHash, "cast logs: its transaction");
eq(logs[0]?.blockNumber, receipt.blockNumber, "cast logs: its block");
eq(cast("nonce", me), "2", "cast nonce after two transactions");
expect(Number(cast("block-number")) >= Number(BigInt(receipt.blockNumber)), "cast block-number reaches the receipt's block");

// ---- viem ---------------------------------------------------------------------------
const chain = defineChain({
  id: chainId, name: "consort", nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
  rpcUrls: { default: { http: [env("VIEM_RPC_URL")] } },
});
const transport = http(env("VIEM_RPC_URL"), { fetchOptions: { headers: { Authorization: `Bearer ${token}` } } });
const pub = createPublicClient({ chain, transport, pollingInterval: 50 });
const wallet = createWalletClient({ chain, transport, account });
eq(await pub.getChainId(), chainId, "viem getChainId");
const deployHash = await wallet.deployContract({ abi: Counter.abi, bytecode: Counter.bytecode });
const deployReceipt = await pub.waitForTransactionReceipt({ hash: deployHash, pollingInterval: 50 });
eq(deployReceipt.status, "success", "viem deployContract: status");
const viemCounter = deployReceipt.contractAddress;
eq(await pub.readContract({ address: viemCounter, abi: Counter.abi, functionName: "count" }), 0n, "viem readContract before");
const { request } = await pub.simulateContract({ account, address: viemCounter, abi: Counter.abi, functionName: "add", args: [7n] });
const addHash = await wallet.writeContract(request);
const addReceipt = await pub.waitForTransactionReceipt({ hash: addHash, pollingInterval: 50 });
eq(addReceipt.status, "success", "viem writeContract add(7): status");
eq(await pub.readContract({ address: viemCounter, abi: Counter.abi, functionName: "count" }), 7n, "viem readContract after");
eq(await pub.readContract({ address: viemCounter, abi: Counter.abi, functionName: "count", blockNumber: deployReceipt.blockNumber }), 0n, "viem readContract at the deployment's block");
const events = await pub.getLogs({
  address: viemCounter, event: parseAbiItem("event Counted(address indexed by, uint256 count)"),
  fromBlock: deployReceipt.blockNumber, toBlock: addReceipt.blockNumber,
});
eq(events.length, 1, "viem getLogs: one Counted event");
eq(events[0]?.args?.by, account.address, "viem getLogs: by");
eq(events[0]?.args?.count, 7n, "viem getLogs: count");
eq(events[0]?.transactionHash, addHash, "viem getLogs: its transaction");
eq(await pub.getTransactionCount({ address: me }), 4, "viem getTransactionCount after four transactions");

const summary = { ok: problems.length === 0, checks, problems, counter, viemCounter };
console.log(JSON.stringify(summary, (_, v) => (typeof v === "bigint" ? v.toString() : v)));
process.exit(problems.length === 0 ? 0 : 1);
