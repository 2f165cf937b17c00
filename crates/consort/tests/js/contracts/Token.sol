// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// A plain OpenZeppelin ERC20 whose whole initial supply goes to the deployer.
contract Token is ERC20 {
    constructor(uint256 initialSupply) ERC20("Consort Token", "CTK") {
        _mint(msg.sender, initialSupply);
    }
}
