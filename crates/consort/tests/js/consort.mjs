// Shared by erc.mjs and differential.mjs: connecting ethers v6 to Consort over HTTPS with
// the service CA and a user's TLS client certificate, reading the environment, assertions.
//
// How ethers v6 (Node) takes custom TLS settings: a FetchRequest whose `getUrlFunc` is
// `FetchRequest.createGetUrlFunc({ agent })` with an `https.Agent` carrying `ca`, `cert`
// and `key`; the JsonRpcProvider is given that FetchRequest instead of a URL string and
// clones it (getUrlFunc included) for every request. Nothing global is changed.

import fs from "node:fs";
import https from "node:https";
import { FetchRequest, JsonRpcProvider, Network } from "ethers";

/** A required environment variable. */
export function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is required`);
  return v;
}

/** A comma-separated environment variable as a list (empty if unset). */
export function envList(name) {
  return (process.env[name] || "").split(",").map((s) => s.trim()).filter(Boolean);
}

let agent = null;

/** The https.Agent that trusts CONSORT_CA and presents CONSORT_CERT/CONSORT_KEY. */
export function consortAgent() {
  agent ??= new https.Agent({
    ca: fs.readFileSync(env("CONSORT_CA")),
    cert: fs.readFileSync(env("CONSORT_CERT")),
    key: fs.readFileSync(env("CONSORT_KEY")),
    keepAlive: true,
  });
  return agent;
}

/** A FetchRequest for `url` that uses the Consort TLS agent (plain http URLs are left alone). */
export function consortRequest(url) {
  const req = new FetchRequest(url);
  if (url.startsWith("https:")) req.getUrlFunc = FetchRequest.createGetUrlFunc({ agent: consortAgent() });
  req.timeout = 30_000;
  return req;
}

/**
 * A JsonRpcProvider for a Consort node. With `chainId` the network is static (no
 * eth_chainId polling); `pollingInterval` is short because commits take tens of ms, and
 * ethers' 250 ms cache of identical requests is off (`cacheTimeout: -1`): Consort commits
 * a transaction well within 250 ms, so a cached eth_getTransactionCount("pending") from
 * the previous send would give the next transaction a stale nonce.
 */
export function consortProvider(url, chainId) {
  const network = chainId == null ? undefined : Network.from(Number(chainId));
  return new JsonRpcProvider(consortRequest(url), network, {
    staticNetwork: network ?? false,
    pollingInterval: 50,
    cacheTimeout: -1,
  });
}

/** One raw JSON-RPC call over the given FetchRequest; returns the whole response object. */
export async function rawRpc(url, method, params) {
  const req = consortRequest(url);
  req.setHeader("content-type", "application/json");
  req.body = JSON.stringify({ jsonrpc: "2.0", id: 1, method, params });
  const resp = await req.send();
  resp.assertOk();
  return resp.bodyJson;
}

/** JSON for values holding bigints. */
export const toJson = (v, space) =>
  JSON.stringify(v, (_, x) => (typeof x === "bigint" ? x.toString() : x), space);

/** Throw unless `actual` equals `expected` (deep, via JSON with bigints). */
export function assertEq(actual, expected, what) {
  const a = toJson(actual);
  const e = toJson(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}

/** Throw unless `cond`. */
export function check(cond, what) {
  if (!cond) throw new Error(`assertion failed: ${what}`);
}

/** Run `fn`, which must throw; return the error (throws if it did not). */
export async function expectError(fn, what) {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new Error(`${what}: expected an error, but the call succeeded`);
}

/** Poll `fn` until it returns a non-null value (or time out). */
export async function until(fn, what, timeoutMs = 10_000, stepMs = 25) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v != null) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === "function" ? what() : what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
