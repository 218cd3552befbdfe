"""Connections to a chain: the embedded in-process EVM or any JSON-RPC node.

Every transaction is EIP-1559 and signed locally (the node never holds a key), on
both kinds of chain, so the embedded chain exercises the same path as a real one.
A revert surfaces as `Reverted(reason)` whichever backend raised it: eth-tester's
`TransactionFailed` and a node's `ContractLogicError` carry the reason differently.

What a user gives (a node's URL, an address, a key) is checked here, once, with a
one-line `BadInput` (`hyperx.impl.errors`) naming the option and what it expects;
a node that does not answer is a `ChainError`, a failure at run time.
"""

import ast
import getpass
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests
from eth_abi import decode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.exceptions import TransactionFailed
from eth_utils import is_checksum_address, is_hex_address, to_checksum_address
from web3 import HTTPProvider, Web3
from web3.exceptions import ContractLogicError, ProviderConnectionError, Web3RPCError
from web3.providers.eth_tester import EthereumTesterProvider

from hyperx.impl.errors import BadInput

PRIVATE_KEY_ENV = "HYPERX_PRIVATE_KEY"
KEYSTORE_PASSWORD_ENV = "HYPERX_KEYSTORE_PASSWORD"
ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
PRIORITY_FEE_WEI = 10**9
RPC_TIMEOUT_S = 30


class ChainError(Exception):
    """The chain failed us at run time (a node that does not answer, no funds): one line."""


class Reverted(Exception):
    """The contract rejected a call; `reason` is its revert string ("" if none)."""

    def __init__(self, reason: str):
        super().__init__(reason or "reverted without a reason")
        self.reason = reason


def decode_revert_reason(error: Exception) -> str:
    """The Error(string) reason of a revert raised by eth-tester or a JSON-RPC node."""
    data = getattr(error, "data", None)
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        return _decode_error_data(bytes.fromhex(data[2:]))
    message = error.args[0] if error.args else ""
    if isinstance(message, bytes):
        return _decode_error_data(message)
    for prefix in ("execution reverted: ", "execution reverted"):
        if message.startswith(prefix):
            message = message[len(prefix) :]
            break
    if message[:2] in ("b'", 'b"'):  # eth-tester's repr of empty or raw revert data
        return _decode_error_data(ast.literal_eval(message))
    return message


def _decode_error_data(raw: bytes) -> str:
    if raw[:4] == ERROR_SELECTOR:
        return decode(["string"], raw[4:])[0]
    return ""


@dataclass
class Chain:
    """A web3 connection plus what it takes to send signed transactions and move time."""

    w3: Web3
    embedded: bool
    accounts: list[LocalAccount] = field(default_factory=list)  # funded keys we hold

    @property
    def chain_id(self) -> int:
        return self.w3.eth.chain_id

    def now(self) -> int:
        """Timestamp of the latest block, in unix seconds."""
        return self.w3.eth.get_block("latest")["timestamp"]

    def time_travel(self, seconds: int) -> None:
        """Move the chain's clock `seconds` ahead and mine a block there."""
        if self.embedded:
            self.w3.provider.ethereum_tester.time_travel(self.now() + seconds)
        else:
            self.w3.provider.make_request("evm_increaseTime", [seconds])
            self.w3.provider.make_request("evm_mine", [])

    def balance(self, address: str) -> int:
        return self.w3.eth.get_balance(Web3.to_checksum_address(address))

    def transact(self, sender: LocalAccount, to: str | None, data: bytes, value: int = 0) -> dict:
        """Sign and send one EIP-1559 transaction, wait for its receipt.

        Raises `Reverted` (with the reason) if the call would revert, and
        `ChainError` if the sender cannot pay for it.
        """
        tx = {
            "from": sender.address,
            "value": value,
            "data": data,
            "chainId": self.chain_id,
            "nonce": self.w3.eth.get_transaction_count(sender.address, "pending"),
            "type": 2,
        }
        if to is not None:
            tx["to"] = Web3.to_checksum_address(to)
        try:
            estimate = self.w3.eth.estimate_gas(tx)
        except (ContractLogicError, TransactionFailed) as error:
            raise Reverted(decode_revert_reason(error)) from error
        except (ValueError, Web3RPCError) as error:
            raise ChainError(
                f"cannot send from {sender.address}: {rpc_error_message(error)}"
            ) from error
        base_fee = self.w3.eth.get_block("latest")["baseFeePerGas"]
        block_gas = self.w3.eth.get_block("latest")["gasLimit"]
        tx.update(
            gas=min(estimate + estimate // 5 + 10_000, block_gas),
            maxPriorityFeePerGas=PRIORITY_FEE_WEI,
            maxFeePerGas=2 * base_fee + PRIORITY_FEE_WEI,
        )
        cost = tx["gas"] * tx["maxFeePerGas"] + value
        if self.balance(sender.address) < cost:
            raise ChainError(
                f"account {sender.address} holds {self.balance(sender.address)} wei, "
                f"the transaction may cost up to {cost} wei: fund it first"
            )
        signed = sender.sign_transaction(tx)
        try:
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        except (ContractLogicError, TransactionFailed) as error:
            raise Reverted(decode_revert_reason(error)) from error
        except (ValueError, Web3RPCError) as error:
            raise ChainError(
                f"the node refused the transaction: {rpc_error_message(error)}"
            ) from error
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RPC_TIMEOUT_S)
        if receipt["status"] != 1:
            raise Reverted("")
        return receipt


def rpc_error_message(error: Exception) -> str:
    """The node's own words in a JSON-RPC error, whichever way web3 wrapped them."""
    response = getattr(error, "rpc_response", None)
    if isinstance(response, dict) and isinstance(response.get("error"), dict):
        return str(response["error"].get("message", error))
    arg = error.args[0] if error.args else error
    return str(arg.get("message", arg)) if isinstance(arg, dict) else str(arg)


def transport_reason(error: Exception) -> str:
    """Why a node could not be reached, in a few words (not an exception's repr)."""
    text = str(error)
    for needle, reason in (
        ("Connection refused", "connection refused"),
        ("Name or service not known", "unknown host"),
        ("Failed to resolve", "unknown host"),
        ("timed out", "timed out"),
        ("Read timed out", "timed out"),
        ("Connection reset", "connection reset"),
        ("RemoteDisconnected", "the connection was closed"),
    ):
        if needle in text:
            return reason
    if isinstance(error, Web3RPCError):
        return rpc_error_message(error)
    return text.splitlines()[0][:120] if text else type(error).__name__


# What a node that does not answer, or answers with an error, raises through web3.
NODE_UNREACHABLE = (requests.RequestException, ProviderConnectionError, Web3RPCError)


def check_rpc_url(url: str, option: str = "--rpc") -> str:
    """`url` if it is an http(s) URL with a host; BadInput otherwise."""
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError:
        raise BadInput(f"{option} has a port that is not a number: {url!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(
            f"{option} must be an http:// or https:// URL like http://127.0.0.1:8545, got {url!r}"
        )
    return url


def check_address(text: str, option: str) -> str:
    """The checksummed address `text` names; BadInput for anything else."""
    if not re.fullmatch(r"0x[0-9a-fA-F]{40}", text or ""):
        raise BadInput(f"{option} must be a 0x-prefixed address of 40 hex digits, got {text!r}")
    if not is_hex_address(text) or (
        text[2:] != text[2:].lower()
        and text[2:] != text[2:].upper()
        and not is_checksum_address(text)
    ):
        raise BadInput(
            f"{option} {text} has mixed case but a wrong EIP-55 checksum: check it for a typo"
        )
    return to_checksum_address(text)


def connect_embedded() -> Chain:
    """A fresh in-process chain (eth-tester on py-evm) with ten funded accounts."""
    backend = PyEVMBackend()
    w3 = Web3(EthereumTesterProvider(EthereumTester(backend)))
    accounts = [Account.from_key(key.to_bytes()) for key in backend.account_keys]
    return Chain(w3=w3, embedded=True, accounts=accounts)


def connect_rpc(
    url: str, signer: LocalAccount | None = None, *, wait_s: float = 0.0, option: str = "--rpc"
) -> Chain:
    """A JSON-RPC node at `url`, waiting up to `wait_s` for it to answer.

    BadInput if `url` is not a URL; ChainError if no node answers there in time.
    """
    check_rpc_url(url, option)
    w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": RPC_TIMEOUT_S}))
    give_up = time.monotonic() + wait_s
    while True:
        try:
            w3.eth.get_block_number()
            break
        except NODE_UNREACHABLE as error:
            if time.monotonic() >= give_up:
                waited = f" within {wait_s:g} s" if wait_s else ""
                raise ChainError(
                    f"no JSON-RPC node answers at {url}{waited} ({transport_reason(error)})"
                ) from None
            time.sleep(0.25)
    return Chain(w3=w3, embedded=False, accounts=[signer] if signer else [])


def load_signer(keystore: Path | None = None) -> LocalAccount:
    """The deploying key: an encrypted keystore (`keystore`, password from the
    environment or a prompt) or else HYPERX_PRIVATE_KEY. Raises ChainError."""
    if keystore is not None:
        try:
            encrypted = keystore.read_text()
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not a text file"
            raise BadInput(f"cannot read --keystore {keystore}: {reason}") from None
        password = os.environ.get(KEYSTORE_PASSWORD_ENV)
        if password is None:
            password = getpass.getpass(f"password for {keystore}: ")
        try:
            return Account.from_key(Account.decrypt(encrypted, password))
        except (ValueError, TypeError, KeyError) as error:
            reason = "wrong password" if "MAC mismatch" in str(error) else "not a keystore file"
            raise BadInput(f"cannot decrypt --keystore {keystore}: {reason}") from None
    key = os.environ.get(PRIVATE_KEY_ENV)
    if not key:
        raise BadInput(
            f"no signing key: set {PRIVATE_KEY_ENV} to a hex private key or pass --keystore FILE"
        )
    if not re.fullmatch(r"(0x)?[0-9a-fA-F]{64}", key.strip()):
        raise BadInput(f"{PRIVATE_KEY_ENV} must be 64 hex digits (32 bytes), 0x-prefixed or not")
    try:
        return Account.from_key(key.strip())
    except (ValueError, TypeError):
        raise BadInput(f"{PRIVATE_KEY_ENV} is not a valid secp256k1 private key") from None
