// Compile contracts/*.sol with solc-js (the npm `solc` package, its bundled compiler) via
// the standard JSON interface. `@openzeppelin/...` imports resolve from node_modules.
//
//   import { compile } from "./compile.mjs";
//   const { Token: { abi, bytecode } } = compile();
//
// Run directly (`node compile.mjs`) it prints each contract's bytecode size.

import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const solc = require("solc");

const here = path.dirname(fileURLToPath(import.meta.url));
const contractsDir = path.join(here, "contracts");
const nodeModules = path.join(here, "node_modules");

/** Resolve an import that is not one of our sources (e.g. `@openzeppelin/contracts/...`). */
function findImports(importPath) {
  const candidates = [path.join(nodeModules, importPath), path.join(contractsDir, importPath)];
  for (const file of candidates) {
    if (fs.existsSync(file)) return { contents: fs.readFileSync(file, "utf8") };
  }
  return { error: `import not found: ${importPath}` };
}

let cached = null;

/**
 * Compile every contracts/*.sol. Returns { Name: { abi, bytecode, deployedBytecode } } for
 * every contract defined there (bytecode 0x-prefixed). Throws on any compiler error.
 */
export function compile() {
  if (cached) return cached;
  const sources = {};
  for (const f of fs.readdirSync(contractsDir).filter((f) => f.endsWith(".sol")).sort()) {
    sources[f] = { content: fs.readFileSync(path.join(contractsDir, f), "utf8") };
  }
  const input = {
    language: "Solidity",
    sources,
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: "prague",
      outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const errors = (output.errors || []).filter((e) => e.severity === "error");
  if (errors.length) {
    throw new Error("solc failed:\n" + errors.map((e) => e.formattedMessage).join("\n"));
  }
  const out = {};
  for (const file of Object.keys(sources)) {
    for (const [name, c] of Object.entries(output.contracts[file] || {})) {
      out[name] = {
        abi: c.abi,
        bytecode: "0x" + c.evm.bytecode.object,
        deployedBytecode: "0x" + c.evm.deployedBytecode.object,
      };
    }
  }
  cached = out;
  return out;
}

/** The compiler version string (e.g. `0.8.30+commit....Emscripten.clang`). */
export const compilerVersion = () => solc.version();

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = compile();
  console.log(JSON.stringify({
    solc: compilerVersion(),
    contracts: Object.fromEntries(
      Object.entries(out).map(([n, c]) => [n, { bytecodeBytes: (c.bytecode.length - 2) / 2, abiEntries: c.abi.length }]),
    ),
  }, null, 2));
}
