// Prints the creation bytecode (hex, no 0x) of contracts/Token.sol as compile.mjs builds it:
// `consort bench --eth` embeds it as crates/consort/assets/erc20_token.hex, and a test
// checks that file against this output.
import { compile } from "./compile.mjs";

console.log(compile().Token.bytecode.replace(/^0x/, ""));
