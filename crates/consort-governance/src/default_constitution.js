// Consort's default constitution: proposals are lists of known actions; a proposal is
// accepted by a strict majority of active members and rejected once a majority is
// impossible.

// The actions are the keys of APPLY (below). Applications add theirs by appending code to
// this module that extends APPLY (see `constitution::with_app_actions`).
function knownAction(name) {
  return Object.prototype.hasOwnProperty.call(APPLY, name);
}

export function validate(input) {
  let proposal;
  try {
    proposal = JSON.parse(input);
  } catch (e) {
    return { valid: false, description: "the proposal is not JSON" };
  }
  if (proposal === null || !Array.isArray(proposal.actions) || proposal.actions.length === 0) {
    return { valid: false, description: "a proposal is an object with a non-empty actions array" };
  }
  for (const action of proposal.actions) {
    if (action === null || typeof action.name !== "string") {
      return { valid: false, description: "every action needs a name" };
    }
    if (!knownAction(action.name)) {
      return { valid: false, description: `unknown action ${action.name}` };
    }
    if (action.args !== undefined && (action.args === null || typeof action.args !== "object")) {
      return { valid: false, description: `arguments of ${action.name} must be an object` };
    }
    const check = Object.prototype.hasOwnProperty.call(CHECK, action.name) ? CHECK[action.name] : undefined;
    if (check !== undefined) {
      try {
        check(action.args === undefined ? {} : action.args);
      } catch (e) {
        return { valid: false, description: `${action.name}: ${e.message}` };
      }
    }
  }
  return { valid: true, description: "OK" };
}

export function resolve(proposal, proposerId, votes, activeMembers) {
  const active = new Set(activeMembers);
  let yes = 0;
  let no = 0;
  for (const v of votes) {
    if (!active.has(v.member_id)) continue;
    if (v.vote) yes += 1; else no += 1;
  }
  const n = active.size;
  if (yes * 2 > n) return "Accepted";
  if (no * 2 >= n) return "Rejected";
  return "Open";
}

// ---- Applying accepted proposals -------------------------------------------------------
// `ccf.kv[table]` is a map of string keys to string values over the governance tables
// (`public:ccf.gov.*`); `ccf.pemToId(pem)` is the id CCF gives a certificate (hex SHA-256
// of its DER), and throws on anything that is not a certificate.

// Key of single-value tables (CCF: eight zero bytes).
const SINGLETON = "\u0000".repeat(8);

function need(args, name, type) {
  const v = args[name];
  if (typeof v !== type) {
    throw new Error(`argument ${name} must be a ${type}`);
  }
  return v;
}

function jsonOf(table, key) {
  const v = ccf.kv[table].get(key);
  return v === undefined ? undefined : JSON.parse(v);
}

function setNodeStatus(args, from, to) {
  const id = need(args, "node_id", "string");
  const info = jsonOf("public:ccf.gov.nodes.info", id);
  if (info === undefined) throw new Error(`no node ${id}`);
  if (from !== null && !from.includes(info.status)) {
    throw new Error(`node ${id} is ${info.status}`);
  }
  info.status = to;
  ccf.kv["public:ccf.gov.nodes.info"].set(id, JSON.stringify(info));
}

function serviceStatus() {
  const info = jsonOf("public:ccf.gov.service.info", SINGLETON);
  return info === undefined ? undefined : info.status;
}

// Members with an encryption key (recovery members), and those of them that are active.
function recoveryMembers() {
  return ccf.kv["public:ccf.gov.members.encryption_public_keys"].keys().filter((id) => {
    const info = jsonOf("public:ccf.gov.members.info", id);
    return info !== undefined && info.recovery_role !== "NonParticipant";
  });
}
function activeRecoveryMembers() {
  return recoveryMembers().filter((id) => jsonOf("public:ccf.gov.members.info", id).status === "Active");
}

// A lowercase hex string of `bytes` bytes.
function hexArg(args, name, bytes) {
  const v = need(args, name, "string");
  if (v.length !== 2 * bytes || !/^[0-9a-f]*$/.test(v)) {
    throw new Error(`${name} must be ${bytes} bytes of lowercase hex`);
  }
  return v;
}

// CCF's CPUID argument: 4 bytes of lowercase hex.
function cpuidArg(args) {
  return hexArg(args, "cpuid", 4);
}

const ALLOWED_TO_JOIN = JSON.stringify("AllowedToJoin");

// Arguments checked when a proposal is submitted (`validate`), as CCF's actions do, so
// that a proposal that could only fail to apply is refused before anyone votes on it.
const CHECK = {
  set_member(args) { ccf.pemToId(need(args, "cert", "string")); },
  set_user(args) { ccf.pemToId(need(args, "cert", "string")); },
  remove_member(args) { need(args, "member_id", "string"); },
  remove_user(args) { need(args, "user_id", "string"); },
  add_snp_measurement(args) { hexArg(args, "measurement", 48); },
  add_snp_host_data(args) { hexArg(args, "host_data", 32); },
};

const APPLY = {
  set_member(args) {
    const cert = need(args, "cert", "string");
    const id = ccf.pemToId(cert);
    ccf.kv["public:ccf.gov.members.certs"].set(id, cert);
    const old = jsonOf("public:ccf.gov.members.info", id);
    ccf.kv["public:ccf.gov.members.info"].set(id, JSON.stringify({
      status: old === undefined ? "Accepted" : old.status,
      member_data: args.member_data === undefined ? null : args.member_data,
    }));
    if (args.encryption_pub_key !== undefined) {
      ccf.kv["public:ccf.gov.members.encryption_public_keys"].set(
        id, need(args, "encryption_pub_key", "string"));
    }
  },
  remove_member(args) {
    const id = need(args, "member_id", "string");
    if (!ccf.kv["public:ccf.gov.members.certs"].has(id)) throw new Error(`no member ${id}`);
    if (activeRecoveryMembers().includes(id)) {
      // Its share must not count any more: a new ledger secret, with fresh shares.
      const cfg = jsonOf("public:ccf.gov.service.config", SINGLETON) || {};
      const left = activeRecoveryMembers().length - 1;
      if (serviceStatus() === "Open" && cfg.recovery_threshold !== undefined && left < cfg.recovery_threshold) {
        throw new Error(`Number of active recovery members (${left}) would be less than recovery threshold (${cfg.recovery_threshold})`);
      }
      ccf.node.triggerLedgerRekey();
    }
    ccf.kv["public:ccf.gov.members.certs"].delete(id);
    ccf.kv["public:ccf.gov.members.info"].delete(id);
    ccf.kv["public:ccf.gov.members.encryption_public_keys"].delete(id);
  },
  set_member_data(args) {
    const id = need(args, "member_id", "string");
    const info = jsonOf("public:ccf.gov.members.info", id);
    if (info === undefined) throw new Error(`no member ${id}`);
    info.member_data = args.member_data === undefined ? null : args.member_data;
    ccf.kv["public:ccf.gov.members.info"].set(id, JSON.stringify(info));
  },
  set_user(args) {
    const cert = need(args, "cert", "string");
    const id = ccf.pemToId(cert);
    ccf.kv["public:ccf.gov.users.certs"].set(id, cert);
    if (args.user_data !== undefined && args.user_data !== null) {
      ccf.kv["public:ccf.gov.users.info"].set(id, JSON.stringify({ user_data: args.user_data }));
    }
  },
  remove_user(args) {
    const id = need(args, "user_id", "string");
    if (!ccf.kv["public:ccf.gov.users.certs"].has(id)) throw new Error(`no user ${id}`);
    ccf.kv["public:ccf.gov.users.certs"].delete(id);
    ccf.kv["public:ccf.gov.users.info"].delete(id);
  },
  set_user_data(args) {
    const id = need(args, "user_id", "string");
    if (!ccf.kv["public:ccf.gov.users.certs"].has(id)) throw new Error(`no user ${id}`);
    ccf.kv["public:ccf.gov.users.info"].set(id, JSON.stringify({ user_data: args.user_data }));
  },
  add_node_code(args) {
    const code = need(args, "code_id", "string");
    ccf.kv["public:ccf.gov.nodes.code_ids"].set(code, JSON.stringify("AllowedToJoin"));
  },
  remove_node_code(args) {
    const code = need(args, "code_id", "string");
    if (!ccf.kv["public:ccf.gov.nodes.code_ids"].has(code)) throw new Error(`no code id ${code}`);
    ccf.kv["public:ccf.gov.nodes.code_ids"].delete(code);
  },
  add_snp_measurement(args) {
    const m = hexArg(args, "measurement", 48);
    ccf.kv["public:ccf.gov.nodes.snp.measurements"].set(m, ALLOWED_TO_JOIN);
  },
  remove_snp_measurement(args) {
    ccf.kv["public:ccf.gov.nodes.snp.measurements"].delete(need(args, "measurement", "string"));
  },
  add_snp_host_data(args) {
    const h = hexArg(args, "host_data", 32);
    const policy = args.security_policy === undefined ? "" : need(args, "security_policy", "string");
    if (policy !== "" && ccf.sha256Hex(policy) !== h) {
      throw new Error(`The hash of raw policy ${ccf.sha256Hex(policy)} does not match digest ${h}`);
    }
    ccf.kv["public:ccf.gov.nodes.snp.host_data"].set(h, JSON.stringify(policy));
  },
  remove_snp_host_data(args) {
    ccf.kv["public:ccf.gov.nodes.snp.host_data"].delete(need(args, "host_data", "string"));
  },
  set_snp_minimum_tcb_version(args) {
    const cpuid = cpuidArg(args);
    const t = args.tcb_version;
    if (t === null || typeof t !== "object") throw new Error("argument tcb_version must be an object");
    // Turin (family 1Ah) TCBs have an FMC level; Milan and Genoa have none.
    const eax = parseInt(cpuid, 16);
    const turin = ((eax >> 8) & 0xf) + ((eax >> 20) & 0xff) === 0x1a;
    if (!turin && t.fmc !== undefined) throw new Error("tcb_version.fmc is for Turin CPUIDs only");
    const tcb = {};
    for (const f of ["boot_loader", "tee", "snp", "microcode", "fmc"]) {
      if (f === "fmc" && !turin) continue;
      if (!Number.isInteger(t[f]) || t[f] < 0 || t[f] > 255) {
        throw new Error(`tcb_version.${f} must be an integer from 0 to 255`);
      }
      tcb[f] = t[f];
    }
    ccf.kv["public:ccf.gov.nodes.snp.tcb_versions"].set(cpuid, JSON.stringify(tcb));
  },
  set_snp_minimum_tcb_version_hex(args) {
    const cpuid = cpuidArg(args);
    const hex = hexArg(args, "tcb_version", 8);
    const tcb = ccf.tcbHexToPolicy(cpuid, hex);
    ccf.kv["public:ccf.gov.nodes.snp.tcb_versions"].set(cpuid, JSON.stringify(tcb));
  },
  remove_snp_minimum_tcb_version(args) {
    const cpuid = cpuidArg(args);
    if (!ccf.kv["public:ccf.gov.nodes.snp.tcb_versions"].has(cpuid)) {
      throw new Error(`CPUID ${cpuid} not found`);
    }
    ccf.kv["public:ccf.gov.nodes.snp.tcb_versions"].delete(cpuid);
  },
  add_virtual_measurement(args) {
    const m = hexArg(args, "measurement", 32);
    ccf.kv["public:ccf.gov.nodes.virtual.measurements"].set(m, ALLOWED_TO_JOIN);
  },
  remove_virtual_measurement(args) {
    ccf.kv["public:ccf.gov.nodes.virtual.measurements"].delete(need(args, "measurement", "string"));
  },
  add_virtual_host_data(args) {
    const h = hexArg(args, "host_data", 32);
    ccf.kv["public:ccf.gov.nodes.virtual.host_data"].set(h, SINGLETON);
  },
  remove_virtual_host_data(args) {
    ccf.kv["public:ccf.gov.nodes.virtual.host_data"].delete(need(args, "host_data", "string"));
  },
  transition_node_to_trusted(args) {
    setNodeStatus(args, ["Pending"], "Trusted");
  },
  remove_node(args) {
    setNodeStatus(args, ["Pending", "Trusted"], "Retired");
  },
  transition_service_to_open(args) {
    const info = jsonOf("public:ccf.gov.service.info", SINGLETON);
    if (info === undefined) throw new Error("no service record");
    for (const k of ["previous_service_identity", "next_service_identity"]) {
      if (args[k] !== undefined && typeof args[k] !== "string") {
        throw new Error(`argument ${k} must be a string`);
      }
    }
    if (info.status === "Recovering" &&
        (args.previous_service_identity === undefined || args.next_service_identity === undefined)) {
      throw new Error("Opening a recovering network requires both, the previous and the next service identity");
    }
    ccf.node.transitionServiceToOpen(args.previous_service_identity, args.next_service_identity);
  },
  set_constitution(args) {
    const c = need(args, "constitution", "string");
    ccf.kv["public:ccf.gov.constitution"].set(SINGLETON, JSON.stringify(c));
  },
  set_jwt_issuer(args) {
    const issuer = need(args, "issuer", "string");
    ccf.kv["public:ccf.gov.jwt.issuers"].set(issuer, JSON.stringify({ issuer }));
    const keys = args.jwks === undefined ? [] : args.jwks.keys;
    if (!Array.isArray(keys)) throw new Error("jwks.keys must be an array");
    for (const jwk of keys) {
      if (typeof jwk.kid !== "string" || typeof jwk.kty !== "string") {
        throw new Error("every JWK needs kid and kty");
      }
      ccf.kv["public:ccf.gov.jwt.public_signing_keys"].set(jwk.kid, JSON.stringify({ issuer, jwk }));
    }
  },
  remove_jwt_issuer(args) {
    const issuer = need(args, "issuer", "string");
    if (!ccf.kv["public:ccf.gov.jwt.issuers"].has(issuer)) throw new Error(`no issuer ${issuer}`);
    ccf.kv["public:ccf.gov.jwt.issuers"].delete(issuer);
    const gone = [];
    ccf.kv["public:ccf.gov.jwt.public_signing_keys"].forEach((v, k) => {
      if (JSON.parse(v).issuer === issuer) gone.push(k);
    });
    for (const k of gone) ccf.kv["public:ccf.gov.jwt.public_signing_keys"].delete(k);
  },
  set_recovery_threshold(args) {
    const t = need(args, "recovery_threshold", "number");
    if (!Number.isInteger(t) || t < 1 || t > 254) {
      throw new Error("recovery_threshold must be an integer from 1 to 254");
    }
    const status = serviceStatus();
    if (status === "WaitingForRecoveryShares") {
      throw new Error("Cannot set recovery threshold if service is WaitingForRecoveryShares");
    }
    // Open: the shares must be issuable at once; before that, members may still activate.
    const n = status === "Open" ? activeRecoveryMembers().length : recoveryMembers().length;
    if (t > n) {
      throw new Error(`Cannot set recovery threshold to ${t}: there are only ${n} ${status === "Open" ? "active " : ""}recovery members`);
    }
    const cfg = jsonOf("public:ccf.gov.service.config", SINGLETON) || {};
    cfg.recovery_threshold = t;
    ccf.kv["public:ccf.gov.service.config"].set(SINGLETON, JSON.stringify(cfg));
  },
  trigger_recovery_shares_refresh(args) {
    ccf.node.triggerRecoverySharesRefresh();
  },
  trigger_ledger_rekey(args) {
    ccf.node.triggerLedgerRekey();
  },
  set_service_configuration(args) {
    if (args.require_hardware_attestation !== undefined && typeof args.require_hardware_attestation !== "boolean") {
      throw new Error("require_hardware_attestation must be a boolean");
    }
    const cfg = jsonOf("public:ccf.gov.service.config", SINGLETON) || {};
    for (const [k, v] of Object.entries(args)) cfg[k] = v;
    ccf.kv["public:ccf.gov.service.config"].set(SINGLETON, JSON.stringify(cfg));
  },
};

export function apply(input, proposalId) {
  const proposal = JSON.parse(input);
  for (const action of proposal.actions) {
    APPLY[action.name](action.args === undefined ? {} : action.args);
  }
}
