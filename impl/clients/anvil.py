"""A throw-away anvil (Foundry's development EVM node) on loopback, for tests and local runs.

`AnvilNode` runs the anvil that `npm ci` puts in node_modules on a free 127.0.0.1
port, automining, and stops it by its process group. `fund` gives an account ether
with `anvil_setBalance`, so no key of anvil's own is needed; `snapshot`/`revert`
wrap `evm_snapshot`/`evm_revert`, `reorg` wraps `anvil_reorg` (the replaced blocks'
transactions are gone, those still in the pool stay), `automine` and `mine` let a
fault test hold transactions in the pool.
"""

import socket
import subprocess
import time

import requests

from hyperx.impl.datastore.node import find_node_bin, stop_process_group


class AnvilError(RuntimeError):
    """anvil is missing or did not start; the message says what to do."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class AnvilNode:
    """Context manager: anvil on 127.0.0.1; `url` once started."""

    def __init__(self, startup_timeout_s: float = 30.0, block_time_s: int | None = None):
        self.startup_timeout_s = startup_timeout_s
        self.block_time_s = block_time_s
        self.process: subprocess.Popen | None = None
        self.url: str | None = None

    def __enter__(self) -> "AnvilNode":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> None:
        anvil = find_node_bin("anvil")
        if anvil is None:
            raise AnvilError(
                "anvil is not installed: run `npm ci --omit=optional --no-audit --no-fund`"
            )
        port = free_port()
        command = [str(anvil), "--host", "127.0.0.1", "--port", str(port), "--silent"]
        if self.block_time_s:
            command += ["--block-time", str(self.block_time_s)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        self.url = f"http://127.0.0.1:{port}"
        started = time.monotonic()
        while time.monotonic() - started < self.startup_timeout_s:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode(errors="replace").strip().splitlines()
                code = self.process.returncode
                self.stop()
                raise AnvilError(
                    f"anvil exited with code {code}: {error[-1] if error else 'no output'}"
                )
            try:
                self.rpc("eth_chainId")
                return
            except requests.RequestException:
                time.sleep(0.05)
        self.stop()
        raise AnvilError(f"anvil did not answer within {self.startup_timeout_s:g} s")

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process)
            self.process = None

    def rpc(self, method: str, *params):
        answer = requests.post(
            self.url,
            json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
            timeout=10,
        ).json()
        if "error" in answer:
            raise AnvilError(f"anvil {method}: {answer['error'].get('message')}")
        return answer["result"]

    def fund(self, address: str, wei: int) -> None:
        self.rpc("anvil_setBalance", address, hex(wei))

    def snapshot(self) -> str:
        return self.rpc("evm_snapshot")

    def revert(self, snapshot_id: str) -> None:
        self.rpc("evm_revert", snapshot_id)

    def reorg(self, depth: int) -> None:
        """Replace the newest `depth` blocks with as many empty ones."""
        self.rpc("anvil_reorg", depth, [])

    def automine(self, on: bool) -> None:
        self.rpc("evm_setAutomine", on)

    def mine(self, blocks: int = 1) -> None:
        self.rpc("anvil_mine", hex(blocks))
