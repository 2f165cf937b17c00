// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// A counter that logs who counted: the contract the tools test (cast, viem) deploys,
/// calls and reads events of.
contract Counter {
    uint256 public count;

    event Counted(address indexed by, uint256 count);

    function add(uint256 n) external {
        count += n;
        emit Counted(msg.sender, count);
    }
}
