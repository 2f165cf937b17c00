// End-to-end test of Consort's Ethereum JSON-RPC app with ethers v6, unmodified: ERC20 and
// ERC721 (OpenZeppelin) deployment, calls, transactions, receipts, events, logs, reverts.
//
// Environment:
//   ETH_RPC_URL    https://127.0.0.1:8000/app/eth
//   ETH_RPC_URLS   optional, comma-separated URLs of several nodes; steps rotate over them
//                  (send on one node, read on another)
//   CONSORT_CA     service_cert.pem;  CONSORT_CERT / CONSORT_KEY: a user's TLS cert and key
//   ETH_KEYS       comma-separated 0x private keys of funded accounts (at least 2)
//   ETH_CHAIN_ID   optional: the expected chain id
//
// Exit code 0 and a JSON summary on stdout on success; 1 and the failed steps otherwise
// (VERBOSE=1 prints the full errors).

import { ContractFactory, Wallet, Transaction, getAddress, getCreateAddress, id, zeroPadValue, parseEther, ZeroAddress } from "ethers";
import { compile } from "./compile.mjs";
import {
  assertEq, check, consortProvider, env, envList, expectError, rawRpc, toJson, until,
} from "./consort.mjs";

const urls = envList("ETH_RPC_URLS").length ? envList("ETH_RPC_URLS") : [env("ETH_RPC_URL")];
const keys = envList("ETH_KEYS");
if (keys.length < 2) throw new Error("ETH_KEYS needs at least 2 private keys");

// Steps run in order; a failed step is recorded and the next ones still run (a failure
// early on may make later steps fail too: read the first one first).
const steps = [];
const failures = [];
async function step(name, fn) {
  try {
    await fn();
    steps.push(name);
  } catch (e) {
    failures.push({ step: name, error: e.shortMessage ?? e.message });
    if (process.env.VERBOSE) console.error(e);
  }
}

// ---------------------------------------------------------------------------------------
const artifacts = compile();
const chainIdHex = (await rawRpc(urls[0], "eth_chainId", [])).result;
const chainId = BigInt(chainIdHex);
const providers = urls.map((u) => consortProvider(u, chainId));
/** The provider of node `i` (round-robin over the URLs). */
const node = (i) => providers[i % providers.length];
const wallets = keys.map((k) => new Wallet(k));
const [a0, a1] = wallets.map((w) => w.address);
/** Wallet `w` talking to node `i`. */
const on = (w, i) => wallets[w].connect(node(i));

// Transactions sent per account, to check eth_getTransactionCount at the end.
const startNonce = {};
const sent = {};
const receipts = [];

/**
 * Wait for `tx` (a TransactionResponse) through ethers (`wait()`), then until every node
 * serves the same receipt (a receipt is only served once committed; a node may learn of
 * the commit a little later than the one that was asked). Returns the receipt.
 * With `reverts`, the transaction must fail (status 0) and ethers must throw CALL_EXCEPTION.
 */
async function mined(tx, { reverts = false } = {}) {
  sent[tx.from] = (sent[tx.from] ?? 0) + 1;
  let receipt;
  if (reverts) {
    const e = await expectError(() => tx.wait(), "wait() on a reverting transaction");
    check(e.code === "CALL_EXCEPTION", `wait() throws CALL_EXCEPTION (got ${e.code}: ${e.message})`);
    receipt = e.receipt;
    check(receipt != null, "the CALL_EXCEPTION carries the receipt");
    assertEq(receipt.status, 0, "status of a reverted transaction");
  } else {
    receipt = await tx.wait();
    assertEq(receipt.status, 1, `status of ${tx.hash}`);
  }
  assertEq(receipt.hash, tx.hash, "receipt transaction hash");
  assertEq(receipt.from, tx.from, "receipt from");
  for (const [i, p] of providers.entries()) {
    const r = await until(() => p.getTransactionReceipt(tx.hash), `receipt of ${tx.hash} on node ${i}`);
    assertEq(toJson(r), toJson(receipt), `receipt of ${tx.hash} on node ${i}`);
  }
  receipts.push(receipt);
  return receipt;
}

/** Logs parsed with `iface` as [eventName, ...args] (addresses checksummed, ints as bigint). */
const parsed = (iface, logs) => logs.map((l) => {
  const p = iface.parseLog(l);
  check(p != null, `log ${toJson(l)} is an event of the contract`);
  return [p.name, ...p.args];
});

const topicOf = (addr) => zeroPadValue(addr, 32);
const TRANSFER = id("Transfer(address,address,uint256)");
const APPROVAL = id("Approval(address,address,uint256)");

try {
  // -------------------------------------------------------------------------------------
  await step("chainId", async () => {
    if (process.env.ETH_CHAIN_ID) assertEq(chainId, BigInt(process.env.ETH_CHAIN_ID), "eth_chainId");
    for (const [i, p] of providers.entries()) {
      assertEq(BigInt(await p.send("eth_chainId", [])), chainId, `eth_chainId on node ${i}`);
      assertEq(await p.send("net_version", []), chainId.toString(), `net_version on node ${i}`);
      assertEq((await p.getNetwork()).chainId, chainId, `getNetwork().chainId on node ${i}`);
    }
    const fees = await node(0).getFeeData();
    assertEq(fees.gasPrice, 0n, "getFeeData().gasPrice (eth_gasPrice)");
    for (const w of wallets) {
      startNonce[w.address] = await node(0).getTransactionCount(w.address);
      check((await node(1).getBalance(w.address)) >= parseEther("10"), `${w.address} is funded`);
    }
  });

  // -------------------------------------------------------------------------------------
  const supply = parseEther("1000000");
  let token, tokenBlock;
  await step("deploy Token", async () => {
    const factory = new ContractFactory(artifacts.Token.abi, artifacts.Token.bytecode, on(0, 0));
    const nonce = await node(0).getTransactionCount(a0);
    token = await factory.deploy(supply);
    const receipt = await mined(token.deploymentTransaction());
    await token.waitForDeployment();
    const address = await token.getAddress();
    assertEq(address, getCreateAddress({ from: a0, nonce }), "Token address (sender, nonce)");
    assertEq(receipt.contractAddress, address, "receipt.contractAddress");
    assertEq(receipt.to, null, "receipt.to of a creation");
    assertEq(await node(1).getCode(address), artifacts.Token.deployedBytecode, "eth_getCode of Token");
    tokenBlock = receipt.blockNumber;
    // The mint in the constructor: Transfer(0 -> deployer).
    assertEq(parsed(token.interface, receipt.logs), [["Transfer", ZeroAddress, a0, supply]], "constructor logs");
  });

  // -------------------------------------------------------------------------------------
  await step("eth_call balanceOf/name/symbol at latest", async () => {
    const t = token.connect(node(2));
    assertEq(await t.balanceOf(a0, { blockTag: "latest" }), supply, "balanceOf(deployer)");
    assertEq(await t.balanceOf(a1), 0n, "balanceOf(account 2)");
    assertEq(await t.totalSupply(), supply, "totalSupply()");
    assertEq([await t.name(), await t.symbol(), await t.decimals()], ["Consort Token", "CTK", 18n], "metadata");
    // The same call as raw eth_call, explicitly at "latest".
    const data = token.interface.encodeFunctionData("balanceOf", [a0]);
    const out = await node(1).call({ to: await token.getAddress(), data, blockTag: "latest" });
    assertEq(token.interface.decodeFunctionResult("balanceOf", out)[0], supply, "raw eth_call balanceOf");
  });

  // -------------------------------------------------------------------------------------
  let transferReceipt;
  await step("transfer + Transfer event", async () => {
    const tx = await token.connect(on(0, 1)).transfer(a1, 1000n);
    transferReceipt = await mined(tx);
    assertEq(transferReceipt.logs.length, 1, "one log");
    assertEq(transferReceipt.logs[0].address, await token.getAddress(), "log address");
    assertEq(parsed(token.interface, transferReceipt.logs), [["Transfer", a0, a1, 1000n]], "Transfer event");
    const t = token.connect(node(2));
    assertEq([await t.balanceOf(a0), await t.balanceOf(a1)], [supply - 1000n, 1000n], "balances after transfer");
  });

  // -------------------------------------------------------------------------------------
  await step("approve + allowance", async () => {
    const r = await mined(await token.connect(on(0, 2)).approve(a1, 500n));
    assertEq(parsed(token.interface, r.logs), [["Approval", a0, a1, 500n]], "Approval event");
    assertEq(await token.connect(node(0)).allowance(a0, a1), 500n, "allowance");
  });

  // -------------------------------------------------------------------------------------
  let transferFromReceipt;
  await step("transferFrom by account 2", async () => {
    transferFromReceipt = await mined(await token.connect(on(1, 0)).transferFrom(a0, a1, 300n));
    assertEq(parsed(token.interface, transferFromReceipt.logs), [["Transfer", a0, a1, 300n]], "Transfer event");
    const t = token.connect(node(1));
    assertEq(await t.allowance(a0, a1), 200n, "allowance after transferFrom");
    assertEq([await t.balanceOf(a0), await t.balanceOf(a1)], [supply - 1300n, 1300n], "balances");
  });

  // -------------------------------------------------------------------------------------
  await step("getLogs / queryFilter", async () => {
    const address = await token.getAddress();
    const last = transferFromReceipt.blockNumber;
    const summary = (logs) => logs.map((l) => [l.blockNumber, l.transactionHash, l.address, ...l.topics, l.data]);
    const expected = [transferReceipt, transferFromReceipt].map((r) => summary(r.logs)[0]);

    // Indexed `to` = account 2, over the whole range, through the contract and the provider.
    const viaContract = await token.connect(node(2)).queryFilter(token.filters.Transfer(null, a1), tokenBlock, last);
    assertEq(viaContract.map((e) => [e.eventName, ...e.args]), [["Transfer", a0, a1, 1000n], ["Transfer", a0, a1, 300n]], "queryFilter(Transfer(null, a1))");
    assertEq(summary(viaContract), expected, "queryFilter logs");
    const viaProvider = await node(1).getLogs({ address, topics: [TRANSFER, null, topicOf(a1)], fromBlock: tokenBlock, toBlock: last });
    assertEq(summary(viaProvider), expected, "getLogs(address, [Transfer, null, a1])");

    // All Transfers of the token (the constructor's mint included), and a narrower range.
    const all = await node(0).getLogs({ address, topics: [TRANSFER], fromBlock: tokenBlock, toBlock: "latest" });
    assertEq(parsed(token.interface, all), [["Transfer", ZeroAddress, a0, supply], ["Transfer", a0, a1, 1000n], ["Transfer", a0, a1, 300n]], "all Transfer logs");
    const later = await node(2).getLogs({ address, topics: [TRANSFER, null, topicOf(a1)], fromBlock: transferReceipt.blockNumber + 1, toBlock: last });
    assertEq(summary(later), expected.slice(1), "getLogs from the block after the first transfer");
    const byHash = await node(0).getLogs({ blockHash: transferReceipt.blockHash });
    assertEq(summary(byHash), expected.slice(0, 1), "getLogs by blockHash");
    // Topic alternatives (Transfer or Approval) with `from` = deployer, and no match at all.
    const either = await node(1).getLogs({ address, topics: [[TRANSFER, APPROVAL], topicOf(a0)], fromBlock: tokenBlock, toBlock: last });
    assertEq(parsed(token.interface, either).map((l) => l[0]), ["Transfer", "Approval", "Transfer"], "Transfer|Approval from deployer");
    const none = await node(2).getLogs({ address, topics: [TRANSFER, topicOf(a1)], fromBlock: tokenBlock, toBlock: last });
    assertEq(none, [], "no Transfer from account 2");
  });

  // -------------------------------------------------------------------------------------
  await step("revert: ERC20InsufficientBalance", async () => {
    const t = token.connect(on(1, 1));
    const balance = await t.balanceOf(a1);
    const tooMuch = balance + 1n;
    const expectedArgs = [a1, balance, tooMuch];

    const e1 = await expectError(() => t.transfer.staticCall(a0, tooMuch), "staticCall");
    check(e1.code === "CALL_EXCEPTION", `staticCall: CALL_EXCEPTION (got ${e1.code}: ${e1.message})`);
    assertEq(e1.revert?.name, "ERC20InsufficientBalance", "staticCall: decoded custom error");
    assertEq([...e1.revert.args], expectedArgs, "staticCall: custom error args");

    const e2 = await expectError(() => t.transfer.estimateGas(a0, tooMuch), "estimateGas");
    check(e2.code === "CALL_EXCEPTION", `estimateGas: CALL_EXCEPTION (got ${e2.code}: ${e2.message})`);
    assertEq(e2.info?.error?.code, 3, "estimateGas: JSON-RPC error code");
    const decoded = token.interface.parseError(e2.data);
    assertEq([decoded?.name, ...(decoded?.args ?? [])], ["ERC20InsufficientBalance", ...expectedArgs], "estimateGas: revert data");

    // A transaction with an explicit gas limit (no estimate) is included and fails.
    const before = [await t.balanceOf(a0), await t.balanceOf(a1)];
    const tx = await t.transfer(a0, tooMuch, { gasLimit: 100_000 });
    const r = await mined(tx, { reverts: true });
    assertEq(r.logs.length, 0, "no logs from a reverted transaction");
    check(r.gasUsed > 21_000n && r.gasUsed < 100_000n, `gasUsed of the reverted transaction (${r.gasUsed})`);
    assertEq([await token.connect(node(2)).balanceOf(a0), await token.connect(node(2)).balanceOf(a1)], before, "balances unchanged");
  });

  // -------------------------------------------------------------------------------------
  await step("ether transfer between accounts", async () => {
    const amount = parseEther("1.5");
    const before = [await node(0).getBalance(a0), await node(0).getBalance(a1)];
    const r = await mined(await on(0, 2).sendTransaction({ to: a1, value: amount }));
    assertEq(r.gasUsed, 21000n, "gasUsed of a plain transfer");
    assertEq([await node(1).getBalance(a0), await node(1).getBalance(a1)], [before[0] - amount, before[1] + amount], "balances (gas price 0)");
  });

  // -------------------------------------------------------------------------------------
  await step("Collectible (ERC721)", async () => {
    const factory = new ContractFactory(artifacts.Collectible.abi, artifacts.Collectible.bytecode, on(0, 1));
    const nft = await factory.deploy();
    const deployReceipt = await mined(nft.deploymentTransaction());
    const address = await nft.getAddress();
    assertEq(deployReceipt.contractAddress, address, "receipt.contractAddress");
    const c0 = nft.connect(on(0, 2));
    const c1 = nft.connect(on(1, 0));
    const read = nft.connect(node(1));

    await mined(await c0.mint(a1, 1n));
    assertEq(await read.ownerOf(1n), a1, "ownerOf(1) after mint");
    await mined(await c1.approve(a0, 1n));
    assertEq(await read.getApproved(1n), a0, "getApproved(1)");
    await mined(await c0.transferFrom(a1, a0, 1n));
    assertEq(await read.ownerOf(1n), a0, "ownerOf(1) after transferFrom");
    assertEq(await read.getApproved(1n), ZeroAddress, "approval cleared by the transfer");
    const safe = await mined(await c0["safeTransferFrom(address,address,uint256)"](a0, a1, 1n));
    assertEq(parsed(nft.interface, safe.logs), [["Transfer", a0, a1, 1n]], "safeTransferFrom logs");
    assertEq(await read.ownerOf(1n), a1, "ownerOf(1) after safeTransferFrom");
    const last = await mined(await c0.mint(a0, 2n));
    assertEq([await read.balanceOf(a0), await read.balanceOf(a1)], [1n, 1n], "balanceOf");

    // Every event of the contract, then only the Approvals, then Transfers to account 2.
    const range = { address, fromBlock: deployReceipt.blockNumber, toBlock: last.blockNumber };
    assertEq(parsed(nft.interface, await node(2).getLogs(range)), [
      ["OwnershipTransferred", ZeroAddress, a0],
      ["Transfer", ZeroAddress, a1, 1n],
      ["Approval", a1, a0, 1n],
      ["Transfer", a1, a0, 1n],
      ["Transfer", a0, a1, 1n],
      ["Transfer", ZeroAddress, a0, 2n],
    ], "all Collectible logs");
    assertEq(parsed(nft.interface, await node(0).getLogs({ ...range, topics: [APPROVAL] })), [["Approval", a1, a0, 1n]], "Approval logs");
    const toA1 = await nft.connect(node(1)).queryFilter(nft.filters.Transfer(null, a1), range.fromBlock, range.toBlock);
    assertEq(toA1.map((e) => [...e.args]), [[ZeroAddress, a1, 1n], [a0, a1, 1n]], "queryFilter(Transfer(null, a1))");

    // Only the owner mints: OwnableUnauthorizedAccount(account 2).
    const e = await expectError(() => c1.mint.staticCall(a1, 99n), "non-owner mint");
    assertEq([e.revert?.name, ...(e.revert?.args ?? [])], ["OwnableUnauthorizedAccount", a1], "non-owner mint revert");
    const e2 = await expectError(() => c1.mint.estimateGas(a1, 99n), "non-owner mint estimateGas");
    assertEq(nft.interface.parseError(e2.data)?.name, "OwnableUnauthorizedAccount", "estimateGas revert data");
    // A safe transfer to a contract that is not an ERC721 receiver.
    const tokenAddress = await token.getAddress();
    const e3 = await expectError(() => nft.connect(on(1, 2))["safeTransferFrom(address,address,uint256)"].staticCall(a1, tokenAddress, 1n), "safeTransferFrom to a non-receiver");
    assertEq([e3.revert?.name, ...(e3.revert?.args ?? [])], ["ERC721InvalidReceiver", tokenAddress], "ERC721InvalidReceiver");
  });

  // -------------------------------------------------------------------------------------
  await step("block context: block.number / block.timestamp vs the transaction's block", async () => {
    const probe = await new ContractFactory(artifacts.Probe.abi, artifacts.Probe.bytecode, on(0, 0)).deploy(1n);
    await mined(probe.deploymentTransaction());
    // Six stamp() calls signed first, then broadcast in three rounds of two concurrent
    // ones (one per sender), without waiting for receipts in between.
    const base = [await node(0).getTransactionCount(a0), await node(0).getTransactionCount(a1)];
    const data = probe.interface.encodeFunctionData("stamp");
    const to = await probe.getAddress();
    const signed = [];
    for (let round = 0; round < 3; round++) {
      for (const w of [0, 1]) {
        signed.push(await wallets[w].signTransaction({ to, data, nonce: base[w] + round, gasLimit: 100_000, gasPrice: 0, chainId, type: 0 }));
      }
    }
    const txs = [];
    for (let round = 0; round < 3; round++) {
      txs.push(...(await Promise.all(signed.slice(2 * round, 2 * round + 2).map((raw) => node(0).broadcastTransaction(raw)))));
    }
    const now = Math.floor(Date.now() / 1000);
    const problems = [];
    const expect = (got, want, what) => { if (toJson(got) !== toJson(want)) problems.push(`${what}: ${toJson(got)} != ${toJson(want)}`); };
    const sequence = {};
    for (const r of await Promise.all(txs.map((tx) => mined(tx)))) {
      const [, number, timestamp, gasLimit, baseFee, seq] = parsed(probe.interface, r.logs)[0];
      sequence[r.hash] = seq;
      const block = await node(1).getBlock(r.blockNumber);
      expect(number, BigInt(r.blockNumber), `block.number in ${r.hash} vs its receipt's blockNumber`);
      expect(timestamp, BigInt(block.timestamp), `block.timestamp in ${r.hash} vs getBlock(${r.blockNumber}).timestamp`);
      if (Math.abs(block.timestamp - now) > 3600) problems.push(`getBlock(${r.blockNumber}).timestamp ${block.timestamp} is not the current time (${now})`);
      expect([gasLimit, baseFee], [block.gasLimit, block.baseFeePerGas], "block.gaslimit / block.basefee vs getBlock");
    }
    // Consort may put concurrent transactions in one block: then the receipts must number
    // them as in the block (transactionIndex, cumulativeGasUsed, block-wide logIndex).
    for (const n of new Set(receipts.slice(-txs.length).map((r) => r.blockNumber))) {
      const block = await node(2).getBlock(n);
      let cumulative = 0n;
      const logIndexes = [];
      for (const [i, h] of block.transactions.entries()) {
        const r = await node(2).getTransactionReceipt(h);
        cumulative += r.gasUsed;
        expect(r.index, i, `transactionIndex of ${h} (position ${i} in block ${n})`);
        expect(r.cumulativeGasUsed, cumulative, `cumulativeGasUsed of ${h} (position ${i} in block ${n})`);
        logIndexes.push(...r.logs.map((l) => l.index));
      }
      expect(logIndexes, logIndexes.map((_, i) => i), `logIndex of the logs of block ${n} (${block.transactions.length} transactions)`);
      const seqs = block.transactions.map((h) => sequence[h]);
      expect(seqs, [...seqs].sort((x, y) => (x < y ? -1 : 1)), `block ${n} lists its transactions in the order they ran (Probe counter)`);
      expect(block.gasUsed, cumulative, `gasUsed of block ${n}`);
    }
    check(problems.length === 0, problems.join("; "));
  });

  // -------------------------------------------------------------------------------------
  await step("getBlock / getTransaction / getTransactionCount", async () => {
    for (const [i, r] of receipts.entries()) {
      const p = node(i);
      const block = await p.getBlock(r.blockNumber);
      check(block != null, `block ${r.blockNumber} exists`);
      assertEq(block.number, r.blockNumber, "block number");
      assertEq(block.hash, r.blockHash, "block hash = receipt.blockHash");
      check(block.transactions.includes(r.hash), `block ${r.blockNumber} contains ${r.hash}`);
      const tx = await p.getTransaction(r.hash);
      check(tx != null, `getTransaction(${r.hash})`);
      assertEq([tx.hash, tx.from, tx.to, tx.blockNumber, tx.blockHash], [r.hash, r.from, r.to, r.blockNumber, r.blockHash], "transaction vs receipt");
      assertEq(tx.chainId, chainId, "transaction chainId");
      // The fields served must be the signed ones: re-serialized, they hash to the hash.
      const fees = tx.type === 2 ? { maxFeePerGas: tx.maxFeePerGas, maxPriorityFeePerGas: tx.maxPriorityFeePerGas } : { gasPrice: tx.gasPrice };
      const again = Transaction.from({ type: tx.type, chainId: tx.chainId, nonce: tx.nonce, to: tx.to, data: tx.data, value: tx.value,
        gasLimit: tx.gasLimit, ...fees, accessList: tx.type === 0 ? null : tx.accessList, signature: tx.signature });
      assertEq(again.hash, r.hash, `hash of the re-serialized getTransaction(${r.hash})`);
      assertEq(again.from, r.from, `signer of the re-serialized getTransaction(${r.hash})`);
      check(Number.isInteger(tx.nonce), "transaction nonce");
    }
    // Nonces: the transactions of each sender are numbered consecutively from its start
    // (receipts are in the order they were awaited, not always the order of the nonces).
    for (const w of wallets) {
      const mine = [];
      for (const r of receipts.filter((r) => r.from === w.address)) mine.push((await node(2).getTransaction(r.hash)).nonce);
      mine.sort((x, y) => x - y);
      assertEq(mine, mine.map((_, i) => startNonce[w.address] + i), `nonces of ${w.address}`);
      for (const [i, p] of providers.entries()) {
        assertEq(await p.getTransactionCount(w.address), startNonce[w.address] + (sent[w.address] ?? 0), `getTransactionCount(${w.address}) on node ${i}`);
      }
    }
  });

  // -------------------------------------------------------------------------------------
  await step("refused transactions: ethers error codes", async () => {
    // ethers recognises the usual node messages ("nonce too low", "insufficient funds")
    // and turns them into NONCE_EXPIRED / INSUFFICIENT_FUNDS.
    const w = on(1, 1);
    const nonce = await node(1).getTransactionCount(a1);
    const problems = [];
    const said = (e) => toJson(e.error ?? e.info?.error ?? e.message);
    const stale = await expectError(() => w.sendTransaction({ to: a0, value: 1n, nonce: nonce - 1, gasLimit: 21_000 }), "stale nonce");
    if (stale.code !== "NONCE_EXPIRED") problems.push(`a used nonce gives ethers ${stale.code}, not NONCE_EXPIRED (node said ${said(stale)})`);
    const balance = await node(1).getBalance(a1);
    const poor = await expectError(() => w.sendTransaction({ to: a0, value: balance + 1n, gasLimit: 21_000 }), "value above the balance");
    if (poor.code !== "INSUFFICIENT_FUNDS") problems.push(`a value above the balance gives ethers ${poor.code}, not INSUFFICIENT_FUNDS (node said ${said(poor)})`);
    assertEq(await node(2).getTransactionCount(a1), nonce, "refused transactions do not use a nonce");
    check(problems.length === 0, problems.join("; "));
  });

  // -------------------------------------------------------------------------------------
  await step("contract.on(Transfer): 200 transfers, each event once, in order", async () => {
    // ethers polls a filter (eth_newFilter, eth_getFilterChanges) on another node than the
    // one the transfers go to.
    const watched = token.connect(node(2));
    const seen = [];
    const listener = (from, to, value, ev) => {
      if (from === a0 && to === a1) seen.push({ value, block: ev.log.blockNumber, index: ev.log.index });
    };
    await watched.on("Transfer", listener);
    await until(async () => ((await watched.listenerCount("Transfer")) > 0 ? true : null), "the listener");
    // ethers installs its filter at its first poll, at a time of its choosing: a transfer of
    // 0 it reports shows the filter is in place before the 200 are sent. One that commits
    // before the filter exists is never reported (filters report from their installation),
    // so one is sent every 2 s until one is seen.
    const w = token.connect(on(0, 0));
    let nonce = await node(0).getTransactionCount(a0);
    const sentinelSince = Date.now();
    while (!seen.some((s) => s.value === 0n)) {
      if (Date.now() - sentinelSince > 40_000) throw new Error("timed out after 40000 ms waiting for the filter's first event");
      await (await w.transfer(a1, 0n, { nonce: nonce++, gasLimit: 100_000n })).wait();
      sent[a0] = (sent[a0] ?? 0) + 1;
      const t0 = Date.now();
      while (Date.now() - t0 < 2_000 && !seen.some((s) => s.value === 0n)) await new Promise((r) => setTimeout(r, 100));
    }
    seen.length = 0;
    const t = token.connect(node(1));
    const before = [await t.balanceOf(a0), await t.balanceOf(a1)];
    let last;
    for (let i = 1n; i <= 200n; i++) last = await w.transfer(a1, i, { nonce: nonce++, gasLimit: 100_000n });
    sent[a0] = (sent[a0] ?? 0) + 200;
    await last.wait();
    const missing = () => Array.from({ length: 200 }, (_, i) => BigInt(i + 1)).filter((v) => !seen.some((s) => s.value === v));
    // ethers asks for a filter's changes when it sees a new block number: once the last
    // transfer is in, nothing else makes one. Transfers of 0 (not counted) do, every 3 s.
    const counted = () => seen.filter((s) => s.value > 0n);
    const nudges = setInterval(() => {
      w.transfer(a1, 0n, { nonce: nonce++, gasLimit: 100_000n }).then(() => { sent[a0] = (sent[a0] ?? 0) + 1; }, () => {});
    }, 3_000);
    try {
      await until(() => (counted().length >= 200 ? true : null), () => `200 Transfer events (got ${counted().length}; missing ${missing().slice(0, 10).join(", ")})`, 30_000);
    } finally {
      clearInterval(nudges);
    }
    await new Promise((r) => setTimeout(r, 500)); // a duplicate would arrive by now
    await watched.off("Transfer", listener);
    seen.splice(0, seen.length, ...counted());
    assertEq(seen.length, 200, "events received");
    assertEq(seen.map((s) => s.value), Array.from({ length: 200 }, (_, i) => BigInt(i + 1)), "each transfer once, in order");
    const ordered = seen.every((s, i) => i === 0 || s.block > seen[i - 1].block || (s.block === seen[i - 1].block && s.index > seen[i - 1].index));
    check(ordered, "events in (block, log index) order");
    assertEq([await t.balanceOf(a0), await t.balanceOf(a1)], [before[0] - 20100n, before[1] + 20100n], "balances after 200 transfers");
  });

  console.log(toJson({
    ok: failures.length === 0,
    chainId,
    nodes: urls.length,
    passed: steps,
    failed: failures,
    transactions: receipts.length,
    token: token && (await token.getAddress()),
    accounts: wallets.map((w) => getAddress(w.address)),
  }, 2));
  for (const f of failures) console.error(`erc.mjs FAILED in step "${f.step}": ${f.error}`);
  for (const p of providers) p.destroy();
  process.exit(failures.length ? 1 : 0);
} catch (e) {
  console.error(`erc.mjs FAILED: ${e.shortMessage ?? e.message}`);
  console.error(e);
  process.exit(1);
}
