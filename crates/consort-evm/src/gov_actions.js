// The Ethereum application's governance actions, appended to the constitution of a
// service that runs it (consort_governance::with_app_actions). Uses the constitution's
// `need` helper and extends its APPLY object.

// An Ethereum address argument, as the lowercase 0x-prefixed hex the tables use.
function ethAddress(args, name) {
  const a = need(args, name, "string");
  if (!/^0x[0-9a-fA-F]{40}$/.test(a)) throw new Error(`${name} must be a 0x-prefixed 20-byte address`);
  return a.toLowerCase();
}

// A privacy mode argument.
function ethPrivacy(args) {
  const p = need(args, "privacy", "string");
  if (p !== "public" && p !== "private") throw new Error('privacy must be "public" or "private"');
  return p;
}

// The identity an action names: `user_id` (the hex id of a user's certificate), or
// `jwt_issuer` and `jwt_subject` for a bearer-token holder.
function ethIdentity(args, action) {
  if (args.user_id !== undefined) {
    const id = need(args, "user_id", "string");
    if (!/^[0-9a-f]{64}$/.test(id)) throw new Error("user_id must be 64 lowercase hex digits");
    return id;
  }
  if (args.jwt_issuer !== undefined) {
    // As the Rust side: the issuer's `%` and `:` escaped, so the first `:` ends it.
    const issuer = need(args, "jwt_issuer", "string").replace(/%/g, "%25").replace(/:/g, "%3A");
    return `jwt:${issuer}:${need(args, "jwt_subject", "string")}`;
  }
  throw new Error(`${action} needs user_id, or jwt_issuer and jwt_subject`);
}

const ETH_ROLES = ["auditor", "relayer"];

function ethRoles(identity) {
  const v = ccf.kv["public:ccf.gov.eth.roles"].get(identity);
  return v === undefined ? [] : JSON.parse(v);
}

Object.assign(APPLY, {
  // New contracts, and plain accounts, get this mode unless their deployer chose one.
  set_eth_privacy_default(args) {
    ccf.kv["public:ccf.gov.eth.config"].set("privacy_default", ethPrivacy(args));
  },
  // Set one contract's mode, over its deployer's choice.
  set_eth_contract_privacy(args) {
    ccf.kv["public:ccf.gov.eth.contract_privacy"].set(ethAddress(args, "address"), ethPrivacy(args));
  },
  // auditor: sees every transaction, account and contract; relayer: may submit
  // transactions from addresses not bound to it.
  set_eth_role(args) {
    const role = need(args, "role", "string");
    if (!ETH_ROLES.includes(role)) throw new Error(`role must be one of ${ETH_ROLES.join(", ")}`);
    const identity = ethIdentity(args, "set_eth_role");
    const roles = ethRoles(identity);
    if (!roles.includes(role)) roles.push(role);
    ccf.kv["public:ccf.gov.eth.roles"].set(identity, JSON.stringify(roles));
  },
  remove_eth_role(args) {
    const role = need(args, "role", "string");
    const identity = ethIdentity(args, "remove_eth_role");
    const roles = ethRoles(identity);
    if (!roles.includes(role)) throw new Error(`${identity} does not hold the role ${role}`);
    const left = roles.filter((r) => r !== role);
    if (left.length === 0) ccf.kv["public:ccf.gov.eth.roles"].delete(identity);
    else ccf.kv["public:ccf.gov.eth.roles"].set(identity, JSON.stringify(left));
  },
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
    const identity = ethIdentity(args, "set_eth_address_binding");
    ccf.kv["public:ccf.gov.eth.address_bindings"].set(a, JSON.stringify({ identity }));
  },
  remove_eth_address_binding(args) {
    const a = ethAddress(args, "address");
    if (!ccf.kv["public:ccf.gov.eth.address_bindings"].has(a)) throw new Error(`${a} has no governance binding`);
    ccf.kv["public:ccf.gov.eth.address_bindings"].delete(a);
  },
  // The holder of `jwt_issuer`'s tokens for `jwt_subject` acts as the user `user_id` in the
  // Ethereum application (its addresses, roles and view), for tools that can only send a
  // bearer token.
  set_eth_jwt_user(args) {
    const jwt = ethIdentity({ jwt_issuer: args.jwt_issuer, jwt_subject: args.jwt_subject }, "set_eth_jwt_user");
    const user = ethIdentity({ user_id: args.user_id }, "set_eth_jwt_user");
    if (!ccf.kv["public:ccf.gov.users.certs"].has(user)) throw new Error(`no user ${user}`);
    ccf.kv["public:ccf.gov.eth.jwt_users"].set(jwt, JSON.stringify({ user_id: user }));
  },
  remove_eth_jwt_user(args) {
    const jwt = ethIdentity({ jwt_issuer: args.jwt_issuer, jwt_subject: args.jwt_subject }, "remove_eth_jwt_user");
    if (!ccf.kv["public:ccf.gov.eth.jwt_users"].has(jwt)) throw new Error(`${jwt} acts as no user`);
    ccf.kv["public:ccf.gov.eth.jwt_users"].delete(jwt);
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
