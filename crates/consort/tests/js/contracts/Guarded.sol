// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// An OpenZeppelin ERC20 whose balances are readable only by their holder: `balanceOf`
/// reverts unless the caller asks about itself, `myBalance()` is the caller's own. With
/// Consort checking that an eth_call's `from` is bound to the calling user, a holder's
/// balance stays private to it (privacy.mjs). Transfers are unaffected: OpenZeppelin 5's
/// `_update` reads `_balances` directly, never `balanceOf`.
contract PrivateToken is ERC20 {
    /// `caller` asked for the balance of `account`, someone else.
    error BalanceIsPrivate(address caller, address account);

    constructor(uint256 initialSupply) ERC20("Private Token", "PTK") {
        _mint(msg.sender, initialSupply);
    }

    function balanceOf(address account) public view override returns (uint256) {
        if (msg.sender != account) revert BalanceIsPrivate(msg.sender, account);
        return super.balanceOf(account);
    }

    function myBalance() external view returns (uint256) {
        return super.balanceOf(msg.sender);
    }
}
