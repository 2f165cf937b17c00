// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// Exercises EVM behaviour that a differential test compares between two nodes:
/// storage (plain slots and mappings, set and clear for refunds), events with indexed
/// arguments, reverts with a require message, a custom error and a panic, return data,
/// gas-burning loops, value handling, CREATE/CREATE2 and calls between contracts, and the
/// block context (`stamp`).
contract Probe {
    error Unauthorized(address caller, uint256 code);

    event Stored(address indexed who, uint256 indexed key, uint256 value);
    event Cleared(uint256 indexed key);
    event Note(string text, bytes32 tag);
    event Received(address indexed from, uint256 amount);

    uint256 public counter;                       // slot 0
    mapping(uint256 => uint256) public values;    // slot 1
    mapping(address => mapping(uint256 => bytes32)) public tags; // slot 2
    address public lastChild;                     // slot 3

    constructor(uint256 start) payable {
        counter = start;
    }

    /// Write a mapping entry (and bump the counter), emitting an indexed event.
    function store(uint256 key, uint256 value) external returns (uint256) {
        values[key] = value;
        counter += 1;
        emit Stored(msg.sender, key, value);
        return counter;
    }

    /// Set a slot and clear it again in the same call (SSTORE refund), then clear a
    /// pre-existing slot (another refund).
    function setAndClear(uint256 key) external {
        values[key + 1000] = 1;
        values[key + 1000] = 0;
        values[key] = 0;
        emit Cleared(key);
    }

    /// A nested mapping write with a string in the event data.
    function tag(uint256 key, bytes32 t, string calldata text) external {
        tags[msg.sender][key] = t;
        emit Note(text, t);
    }

    /// Reverts with Error(string) unless `ok`.
    function requireOk(bool ok) external returns (uint256) {
        counter += 1;
        require(ok, "Probe: not ok");
        return counter;
    }

    /// Always reverts with a custom error carrying arguments.
    function customFail(uint256 code) external view {
        revert Unauthorized(msg.sender, code);
    }

    /// Panics (0x12: division by zero) when `d` is 0.
    function divide(uint256 n, uint256 d) external pure returns (uint256) {
        return n / d;
    }

    /// Burns gas: `n` rounds of hashing plus storage writes.
    function burn(uint256 n) external returns (bytes32 h) {
        h = bytes32(n);
        for (uint256 i = 0; i < n; i++) {
            h = keccak256(abi.encodePacked(h, i));
            values[uint256(h) % 64] = i;
        }
        counter = uint256(h);
    }

    /// Returns several values (tuple ABI encoding, dynamic types included).
    function info(uint256 key) external view returns (uint256, uint256, address, string memory, bytes memory) {
        return (counter, values[key], address(this), "consort", abi.encodePacked(key, counter));
    }

    /// Accepts value and emits it.
    receive() external payable {
        emit Received(msg.sender, msg.value);
    }

    /// Forwards `amount` wei to `to` (fails if `to` refuses).
    function pay(address payable to, uint256 amount) external {
        (bool ok, ) = to.call{value: amount}("");
        require(ok, "Probe: pay failed");
    }

    /// Deploys a Child with CREATE2 and calls into it.
    function spawn(bytes32 salt, uint256 start) external returns (address child) {
        Child c = new Child{salt: salt}(start);
        c.bump(start);
        lastChild = address(c);
        return address(c);
    }

    /// Deploys a child with CREATE whose constructor reverts; catches the failure.
    function spawnFailing() external returns (bool) {
        try new Failing() returns (Failing) {
            return true;
        } catch {
            counter += 100;
            return false;
        }
    }

    /// The block context the transaction ran in (differs between nodes; erc.mjs checks it
    /// against the transaction's block).
    /// `sequence` (the counter after the increment) gives the order of execution.
    event Stamped(uint256 number, uint256 timestamp, uint256 gasLimit, uint256 baseFee, uint256 sequence);

    function stamp() external {
        counter += 1;
        emit Stamped(block.number, block.timestamp, block.gaslimit, block.basefee, counter);
    }

    /// Environment that both nodes must agree on.
    function env() external view returns (uint256 chainId, uint256 selfBalance, uint256 codeSize, address origin) {
        return (block.chainid, address(this).balance, address(this).code.length, tx.origin);
    }
}

/// A small contract that Probe creates with CREATE2.
contract Child {
    event Bumped(address indexed by, uint256 value);

    uint256 public value;

    constructor(uint256 start) {
        value = start;
    }

    function bump(uint256 by) external {
        value += by;
        emit Bumped(msg.sender, value);
    }
}

/// A contract whose creation always reverts.
contract Failing {
    constructor() {
        revert("Failing: constructor reverted");
    }
}
