// The Ethereum application's governance actions, appended to the constitution of a
// service that runs it (consort_governance::with_app_actions). Uses the constitution's
// `need` helper and extends its APPLY object.

// An Ethereum address argument, as the lowercase 0x-prefixed hex the tables use.
function ethAddress(args, name) {
  const a = need(args, name, "string");
  if (!/^0x[0-9a-fA-F]{40}$/.test(a)) throw new Error(`${name} must be a 0x-prefixed 20-byte address`);
  return a.toLowerCase();
}

Object.assign(APPLY, {
  // Once any sender is allowed, only allowed senders' transactions are accepted.
  set_eth_sender(args) {
    ccf.kv["public:ccf.gov.eth.senders"].set(ethAddress(args, "address"), "{}");
  },
  remove_eth_sender(args) {
    const a = ethAddress(args, "address");
    if (!ccf.kv["public:ccf.gov.eth.senders"].has(a)) throw new Error(`${a} is not an allowed sender`);
    ccf.kv["public:ccf.gov.eth.senders"].delete(a);
  },
  // Bind an address to a user (`user_id`: the hex id of its certificate) or to a JWT
  // holder (`jwt_issuer` and `jwt_subject`); it then belongs to them alone.
  set_eth_address_binding(args) {
    const a = ethAddress(args, "address");
    let identity;
    if (args.user_id !== undefined) {
      identity = need(args, "user_id", "string");
      if (!/^[0-9a-f]{64}$/.test(identity)) throw new Error("user_id must be 64 lowercase hex digits");
    } else if (args.jwt_issuer !== undefined) {
      identity = `jwt:${need(args, "jwt_issuer", "string")}:${need(args, "jwt_subject", "string")}`;
    } else {
      throw new Error("set_eth_address_binding needs user_id, or jwt_issuer and jwt_subject");
    }
    ccf.kv["public:ccf.gov.eth.address_bindings"].set(a, JSON.stringify({ identity }));
  },
  remove_eth_address_binding(args) {
    const a = ethAddress(args, "address");
    if (!ccf.kv["public:ccf.gov.eth.address_bindings"].has(a)) throw new Error(`${a} has no governance binding`);
    ccf.kv["public:ccf.gov.eth.address_bindings"].delete(a);
  },
  set_eth_chain_id(args) {
    const id = need(args, "chain_id", "number");
    if (!Number.isSafeInteger(id) || id < 1) throw new Error("chain_id must be a positive integer");
    ccf.kv["public:ccf.gov.eth.config"].set("chain_id", String(id));
  },
  // The node moves the balance (wei, decimal or 0x-hex) into the application's private
  // state in the same transaction.
  set_eth_balance(args) {
    const b = need(args, "balance", "string");
    if (!/^(0x[0-9a-fA-F]{1,64}|[0-9]{1,77})$/.test(b)) throw new Error("balance must be a decimal or 0x-hex number of wei");
    ccf.kv["public:ccf.gov.eth.balance_updates"].set(ethAddress(args, "address"), b);
  },
});
