// Consort's default constitution: proposals are lists of known actions; a proposal is
// accepted by a strict majority of active members and rejected once a majority is
// impossible.

const ACTIONS = [
  "set_member", "remove_member", "set_member_data", "set_user", "remove_user",
  "set_user_data", "add_node_code", "remove_node_code", "transition_node_to_trusted",
  "remove_node", "transition_service_to_open", "set_constitution", "set_jwt_issuer",
  "remove_jwt_issuer", "set_recovery_threshold", "trigger_ledger_rekey",
  "set_service_configuration",
];

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
    if (!ACTIONS.includes(action.name)) {
      return { valid: false, description: `unknown action ${action.name}` };
    }
    if (action.args !== undefined && (action.args === null || typeof action.args !== "object")) {
      return { valid: false, description: `arguments of ${action.name} must be an object` };
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
