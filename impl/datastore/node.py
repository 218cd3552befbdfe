"""A throw-away js-ipfs node on loopback, for tests and local runs.

`python -m hyperx.impl.datastore.node [--api-port PORT]` runs one until Ctrl-C (or
SIGTERM), for trying `--ipfs` by hand; it prints its API multiaddr once it answers.

`JsIpfsNode` runs the js-ipfs (`ipfs` 0.66.1) that `npm ci` puts in the repository's
node_modules: `jsipfs daemon --offline --enable-preload=false` on a fresh repository
in a temporary folder, which the daemon initialises itself with the `test` profile
and LOOPBACK_CONFIG (`--init-profile test --init-config FILE`: the repository that
`jsipfs init --profile test` plus an edit of its config would give, in one Node.js
start instead of two). LOOPBACK_CONFIG puts the RPC API, gateway and gRPC endpoint
on 127.0.0.1 ports the system picks (port 0; the node writes the API address to
`$IPFS_PATH/api`), with no swarm listeners and no bootstrap peers. The node is ready
once `POST /api/v0/version` answers, and is stopped by killing its process group,
so nothing outlives the `with` block.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from hyperx.impl.datastore.cid import DatastoreError
from hyperx.impl.datastore.ipfs import parse_api_address

LOOPBACK_ANY_PORT = "/ip4/127.0.0.1/tcp/0"
LOOPBACK_CONFIG = {
    "Addresses": {
        "API": LOOPBACK_ANY_PORT,
        "Gateway": LOOPBACK_ANY_PORT,
        "RPC": LOOPBACK_ANY_PORT,
        "Swarm": [],
        "Announce": [],
        "NoAnnounce": [],
        "Delegates": [],
    },
    "Bootstrap": [],
}


def find_node_modules() -> Path | None:
    """Return the node_modules folder holding the pinned npm tools, or None.

    Looked for in $HYPERX_NODE_MODULES, then the current folder and its parents,
    then the source tree this module lives in (an editable install).
    """
    if os.environ.get("HYPERX_NODE_MODULES"):
        return Path(os.environ["HYPERX_NODE_MODULES"])
    for folder in (Path.cwd(), *Path.cwd().parents, *Path(__file__).resolve().parents):
        if (folder / "node_modules" / ".bin").is_dir():
            return folder / "node_modules"
    return None


def find_node_bin(name: str) -> Path | None:
    """Return node_modules/.bin/`name` (e.g. "jsipfs", "anvil") if it is installed."""
    node_modules = find_node_modules()
    if node_modules is None or not (node_modules / ".bin" / name).exists():
        return None
    return node_modules / ".bin" / name


class JsIpfsNode:
    """Context manager: a js-ipfs daemon on 127.0.0.1; `api_multiaddr` and `api_url` once started."""

    def __init__(self, startup_timeout_s: float = 60.0, api_port: int = 0):
        self.startup_timeout_s = startup_timeout_s
        self.api_port = api_port  # 0: any free port
        self.repo: Path | None = None
        self.process: subprocess.Popen | None = None
        self.api_multiaddr: str | None = None
        self.api_url: str | None = None
        self.startup_s: float | None = None

    def __enter__(self) -> "JsIpfsNode":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> None:
        jsipfs = find_node_bin("jsipfs")
        if jsipfs is None:
            raise DatastoreError(
                "js-ipfs is not installed: run `npm ci --omit=optional --no-audit --no-fund`"
                " in the repository root"
            )
        started = time.monotonic()
        self.repo = Path(tempfile.mkdtemp(prefix="hyperx-ipfs-"))
        ipfs_path = self.repo / "repo"
        config = self.repo / "init-config.json"
        try:
            api = {"API": f"/ip4/127.0.0.1/tcp/{self.api_port}"} if self.api_port else {}
            config.write_text(
                json.dumps(
                    {**LOOPBACK_CONFIG, "Addresses": {**LOOPBACK_CONFIG["Addresses"], **api}}
                )
            )
            log = open(self.repo / "daemon.log", "wb")
            self.process = subprocess.Popen(
                [
                    str(jsipfs),
                    "daemon",
                    "--init-profile",
                    "test",
                    "--init-config",
                    str(config),
                    "--offline",
                    "--enable-preload=false",
                ],
                env={**os.environ, "IPFS_PATH": str(ipfs_path)},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            log.close()
            self._wait_until_ready(started, ipfs_path / "api")
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - started

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process)
            self.process = None
        if self.repo is not None:
            shutil.rmtree(self.repo, ignore_errors=True)
            self.repo = None

    def _wait_until_ready(self, started: float, api_file: Path) -> None:
        while time.monotonic() - started < self.startup_timeout_s:
            if self.process.poll() is not None:
                log = (self.repo / "daemon.log").read_text(errors="replace").strip()
                last_line = log.splitlines()[-1] if log else "no output"
                raise DatastoreError(
                    f"js-ipfs daemon exited with code {self.process.returncode}: {last_line}"
                )
            if api_file.is_file() and api_file.read_text().strip():
                self.api_multiaddr = api_file.read_text().strip()
                self.api_url = parse_api_address(self.api_multiaddr)[1]
                try:
                    requests.post(f"{self.api_url}/api/v0/version", timeout=2).raise_for_status()
                    return
                except requests.RequestException:
                    pass
            time.sleep(0.05)
        raise DatastoreError(f"js-ipfs daemon did not answer within {self.startup_timeout_s:g} s")


def stop_process_group(process: subprocess.Popen) -> None:
    """Stop a node started with `start_new_session=True`, and everything it spawned:
    SIGTERM to its process group, SIGKILL after 10 s."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def main() -> None:
    """`python -m hyperx.impl.datastore.node`: run a loopback js-ipfs node until Ctrl-C."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m hyperx.impl.datastore.node", description=main.__doc__
    )
    parser.add_argument(
        "--api-port", type=int, default=0, help="the RPC API's port on 127.0.0.1 (default: any)"
    )
    arguments = parser.parse_args()
    with JsIpfsNode(api_port=arguments.api_port) as node:
        print(
            f"js-ipfs RPC API at {node.api_multiaddr} (started in {node.startup_s:.1f} s);"
            " Ctrl-C stops it",
            flush=True,
        )
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
