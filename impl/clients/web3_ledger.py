"""`Ledger` over web3.py: the Vyper contract on the embedded EVM or a JSON-RPC node.

It wraps `hyperx.impl.chain`'s `Market` (deployment, ABI, connection) for what the
clients need beyond its synchronous one-call-one-receipt methods: sending without
waiting, watching a transaction until it is deep enough or gone, and reading the
contract's logs by block range.

Transactions are signed locally with the party's key (eth-account) and sent raw, so
the node never holds a key; the nonce is the caller's (`Party` picks it from the
confirmed count, `hyperx.impl.clients.daemon`). A dry run (`eth_call`) comes before
every send and gives the revert reason; the reason of a mined transaction that
reverted is recovered by replaying it at its block.
"""

from eth_account import Account as EthAccount
from eth_tester.exceptions import TransactionFailed
from eth_utils import event_abi_to_log_topic
from web3 import Web3
from web3.exceptions import (
    BlockNotFound,
    ContractLogicError,
    TransactionNotFound,
    Web3RPCError,
    Web3ValueError,
)

from hyperx.impl.chain.connection import decode_revert_reason, rpc_error_message
from hyperx.impl.chain.market import Market, encode_proof
from hyperx.impl.clients.daemon import ChainEvent, SendRefused
from hyperx.impl.clients.ledger import Account, TxReceipt

REVERTS = (ContractLogicError, TransactionFailed)
NODE_ERRORS = (Web3RPCError, Web3ValueError, ValueError)
# What a node answers when the account cannot pay: no later attempt will do better.
NO_FUNDS = ("insufficient funds", "insufficient balance")

GAS_MARGIN = 1.25  # over eth_estimateGas, for state that changes between the estimate and the block
FEE_FIELDS = ("maxFeePerGas", "maxPriorityFeePerGas")
REPLACEMENT_BUMP = (9, 8)  # a re-send pays 12.5% more than the attempt it replaces (geth asks 10%)


class Web3Ledger:
    def __init__(self, market: Market):
        self.market = market
        self.w3 = market.chain.w3
        self.contract = contract = market.contract
        self.contract_address = contract.address.lower()
        self.chain_id = self.w3.eth.chain_id
        self._unanswered_tags: set[str] = set()
        self._events_by_topic = {
            event_abi_to_log_topic(abi).hex(): getattr(contract.events, abi["name"])
            for abi in contract.abi
            if abi["type"] == "event"
        }

    def head(self) -> int:
        return self.w3.eth.block_number

    def tagged_block(self, tag: str) -> int | None:
        """The node's `finalized` or `safe` block; None if it does not answer the tag."""
        if tag in self._unanswered_tags:
            return None
        try:
            return self.w3.eth.get_block(tag)["number"]
        except (*NODE_ERRORS, BlockNotFound, KeyError, TypeError):
            self._unanswered_tags.add(tag)
            return None

    def nonce(self, address: str) -> int:
        """The account's confirmed nonce: transactions in the latest block's state."""
        return self.w3.eth.get_transaction_count(Web3.to_checksum_address(address), "latest")

    def block_hash(self, number: int) -> str | None:
        try:
            return self.w3.eth.get_block(number)["hash"].to_0x_hex()
        except BlockNotFound:
            return None

    def timestamp(self, number: int) -> int:
        return self.w3.eth.get_block(number)["timestamp"]

    def events(self, first: int, last: int) -> list[ChainEvent]:
        logs = self.w3.eth.get_logs(
            {"address": self.contract.address, "fromBlock": first, "toBlock": last}
        )
        found = []
        for entry in logs:
            event = self._events_by_topic.get(entry["topics"][0].hex().removeprefix("0x"))
            if event is None:
                continue
            decoded = event().process_log(entry)
            found.append(
                ChainEvent(
                    decoded["event"],
                    {name: _plain(value) for name, value in decoded["args"].items()},
                    entry["blockNumber"],
                    entry["blockHash"].to_0x_hex(),
                    entry["transactionHash"].to_0x_hex(),
                    entry["logIndex"],
                )
            )
        return found

    def _call(self, interface: str, args: list):
        # The ABI's own encoding of each Merkle proof: submit_review's (argument 4, a
        # list of proofs) and dispute_claim's (argument 7, one proof)
        if interface == "submit_review":
            args = [*args[:4], [encode_proof(proof) for proof in args[4]], *args[5:]]
        elif interface == "dispute_claim":
            args = [*args[:7], encode_proof(args[7]), *args[8:]]
        return getattr(self.contract.functions, interface)(*[_abi_arg(a) for a in args])

    def simulate(
        self, account: Account, interface: str, args: list, value: int, block="latest"
    ) -> str | None:
        try:
            self._call(interface, args).call(
                {"from": Web3.to_checksum_address(account.address), "value": value},
                block_identifier=block,
            )
        except REVERTS as error:
            return decode_revert_reason(error)
        return None

    def send(
        self,
        account: Account,
        interface: str,
        args: list,
        value: int,
        *,
        nonce: int | None = None,
        note=lambda tx_hash, fees: None,
        outbid: list | None = None,
    ) -> str:
        """Sign with `nonce` (default: the confirmed one), hand the hash and fees to
        `note`, broadcast; SendRefused if the node will not take it (fatal when the
        account cannot pay). `outbid`: the fees of an earlier attempt at this nonce,
        which this one exceeds by REPLACEMENT_BUMP, as nodes require of a replacement."""
        sender = Web3.to_checksum_address(account.address)
        nonce = self.nonce(account.address) if nonce is None else nonce
        call = self._call(interface, args)
        try:
            gas = call.estimate_gas({"from": sender, "value": value})
            tx = call.build_transaction(
                {
                    "from": sender,
                    "value": value,
                    "nonce": nonce,
                    "gas": int(gas * GAS_MARGIN),
                    "chainId": self.chain_id,
                }
            )
        except REVERTS as error:
            raise SendRefused(f"reverted: {decode_revert_reason(error)}") from None
        except NODE_ERRORS as error:
            raise _refusal(error) from None
        if outbid:
            for field, earlier in zip(FEE_FIELDS, outbid, strict=True):
                tx[field] = max(tx[field], -(-earlier * REPLACEMENT_BUMP[0] // REPLACEMENT_BUMP[1]))
        signed = EthAccount.sign_transaction(tx, account.private_key)
        tx_hash = "0x" + signed.hash.hex().removeprefix("0x")
        note(tx_hash, [tx[field] for field in FEE_FIELDS])
        try:
            self.w3.eth.send_raw_transaction(signed.raw_transaction)
        except NODE_ERRORS as error:
            if "already known" not in rpc_error_message(error):
                raise _refusal(error) from None
        return tx_hash

    def receipt(self, tx_hash: str) -> TxReceipt | None:
        try:
            receipt = self.w3.eth.get_transaction_receipt(tx_hash)
        except TransactionNotFound:
            return None
        if receipt is None or receipt.get("blockNumber") is None:
            return None
        fee = receipt["gasUsed"] * receipt.get("effectiveGasPrice", 0)
        if receipt["status"] == 1:
            return TxReceipt(True, receipt["blockNumber"], None, receipt["gasUsed"], fee)
        reason = self._replay_reason(tx_hash, receipt["blockNumber"])
        return TxReceipt(False, receipt["blockNumber"], reason, receipt["gasUsed"], fee)

    def _replay_reason(self, tx_hash: str, block_number: int) -> str:
        tx = self.w3.eth.get_transaction(tx_hash)
        try:
            self.w3.eth.call(
                {"from": tx["from"], "to": tx["to"], "value": tx["value"], "data": tx["input"]},
                block_number - 1,
            )
        except REVERTS as error:
            return decode_revert_reason(error)
        return "reverted (out of gas or state changed within the block)"

    def is_known(self, tx_hash: str) -> bool:
        """Whether the node has the transaction, in its pool or in a block."""
        try:
            self.w3.eth.get_transaction(tx_hash)
        except TransactionNotFound:
            return False
        return True

    def balance(self, address: str) -> int:
        return self.w3.eth.get_balance(Web3.to_checksum_address(address))

    def market_balance(self) -> int:
        return self.market.balance()

    def get_session(self, sid: int) -> dict:
        return self.market.get_session(sid)

    def client_version(self) -> str:
        return self.w3.client_version

    def transaction_count(self, number: int) -> int:
        try:
            return self.w3.eth.get_block_transaction_count(number)
        except BlockNotFound:
            return 0

    # Development chains only (`hyperx.impl.clients.devchain`)

    def mines_on_demand(self) -> bool:
        """Whether the node mines a block only when a transaction arrives (anvil, hardhat)."""
        for method in ("anvil_getAutomine", "hardhat_getAutomine"):
            answer = self.w3.provider.make_request(method, [])
            if "error" not in answer:
                return bool(answer.get("result"))
        return False

    def advance_time(self, seconds: int) -> None:
        """Move a development chain's clock forward and mine a block (embedded EVM or anvil)."""
        self.market.chain.time_travel(seconds)

    def mine(self, blocks: int = 1) -> None:
        """Mine empty blocks, in one request where the node has one (anvil, hardhat)."""
        if blocks > 1 and not self.market.chain.embedded:
            for method in ("anvil_mine", "hardhat_mine"):
                answer = self.w3.provider.make_request(method, [hex(blocks)])
                if "error" not in answer:
                    return
        for _ in range(blocks):
            self.w3.provider.make_request("evm_mine", [])


def _refusal(error: Exception) -> SendRefused:
    message = rpc_error_message(error)
    return SendRefused(message, fatal=any(words in message.lower() for words in NO_FUNDS))


def _plain(value):
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return value.lower()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return value


def _abi_arg(value):
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return Web3.to_checksum_address(value)
    if isinstance(value, list):
        return [_abi_arg(v) for v in value]
    return value
