# pragma version 0.4.3
"""
@title Re-entrant provider: the attacker of the market's re-entrancy test
@license Apache-2.0
@notice A provider that is a contract: it calls the market with whatever calldata
    its owner hands it, and when value arrives its default function re-enters the
    market once with the armed calldata (any interface), recording whether the
    re-entry succeeded and what it returned.
"""


MAX_CALLDATA: constant(uint256) = 4_096
MAX_RETURN: constant(uint256) = 256


market: public(address)
reentry: public(Bytes[MAX_CALLDATA])
attempts: public(uint256)
reentry_succeeded: public(bool)
reentry_output: public(Bytes[MAX_RETURN])
received_wei: public(uint256)


@deploy
def __init__(market: address):
    self.market = market


@external
@payable
def act(data: Bytes[MAX_CALLDATA]):
    """
    @notice Call the market as this provider, forwarding msg.value.
    @param data The calldata of a market interface.
    """
    raw_call(self.market, data, value=msg.value)


@external
def arm(data: Bytes[MAX_CALLDATA]):
    """
    @notice Set the calldata replayed, once, when value arrives.
    @param data The calldata of a market interface.
    """
    self.reentry = data
    self.attempts = 0


@external
@payable
def __default__():
    self.received_wei += msg.value
    if len(self.reentry) > 0 and self.attempts == 0:
        self.attempts = 1
        success: bool = False
        output: Bytes[MAX_RETURN] = b""
        success, output = raw_call(
            self.market, self.reentry, max_outsize=MAX_RETURN, revert_on_failure=False
        )
        self.reentry_succeeded = success
        self.reentry_output = output
