"""F_DS over a real IPFS node's HTTP RPC API (js-ipfs or Kubo).

The client is `ipfshttpclient.Client(addr)`, built directly: its `connect()` asserts
a daemon version below 0.8.0 and so rejects every current node. Two of its calls
are wrong for current daemons, and are plain HTTP POSTs (requests) here:

- `block.put` takes no codec or CID-version options, so the node picks its default:
  js-ipfs answers with a CIDv0 dag-pb CID (`Qm...`), not the CIDv1 raw CID HyperX
  addresses blocks by. The raw codec is asked for as js-ipfs (`format=raw&version=1`)
  or Kubo (`cid-codec=raw`) spells it; which node it is comes from `/api/v0/version`.
- `block.get` can set only a client-side timeout, not the node's own `timeout`
  argument, so a node asked for a block nobody has keeps searching (an offline node
  forever). Here the node is told to give up, and the request has a timeout as well.

Every multipart part carries a content type and every request a timeout. Blocks read
back are hashed against their CID by `Datastore.get`, so a node that returns other
bytes is caught.
"""

import re
import warnings
from urllib.parse import urlsplit

import ipfshttpclient
import requests

from hyperx.impl.datastore.cid import (
    BlockNotFoundError,
    DatastoreError,
    normalize_cid,
)
from hyperx.impl.datastore.store import Datastore

DEFAULT_TIMEOUT_S = 10.0
MULTIADDR = re.compile(
    r"^/(?P<proto>ip4|ip6|dns|dns4|dns6)/(?P<host>[^/]+)/tcp/(?P<port>\d+)(?:/(?P<scheme>https?))?/?$"
)


def parse_api_address(address: str) -> tuple[str, str]:
    """Return (multiaddr, base URL) of a node's RPC API given as a multiaddr or an http(s) URL."""
    text = str(address).strip()
    match = MULTIADDR.match(text)
    if match:
        host = f"[{match['host']}]" if match["proto"] == "ip6" else match["host"]
        return text, f"{match['scheme'] or 'http'}://{host}:{match['port']}"
    url = urlsplit(text)
    if url.scheme in ("http", "https") and url.hostname and url.port:
        host = url.hostname
        proto = "ip6" if ":" in host else "ip4" if re.fullmatch(r"[\d.]+", host) else "dns"
        host_url = f"[{host}]" if proto == "ip6" else host
        return (
            f"/{proto}/{host}/tcp/{url.port}/{url.scheme}",
            f"{url.scheme}://{host_url}:{url.port}",
        )
    raise DatastoreError(
        f"IPFS API address {text!r} is neither a multiaddr like /ip4/127.0.0.1/tcp/5001/http"
        " nor a URL like http://127.0.0.1:5001"
    )


class IpfsStore(Datastore):
    """F_DS on an IPFS node: blocks go to and come from the node's block API."""

    def __init__(self, address: str, timeout_s: float = DEFAULT_TIMEOUT_S):
        self.multiaddr, self.url = parse_api_address(address)
        self.timeout_s = timeout_s
        self.client = ipfshttpclient.Client(self.multiaddr, timeout=timeout_s)
        self.version = self._call(self.client.version)
        # js-ipfs reports the versions of its ipfs-core package; Kubo reports its Go version.
        self.implementation = "js-ipfs" if "ipfs-core" in self.version else "kubo"

    def __repr__(self) -> str:
        return f"IpfsStore({self.multiaddr!r}, {self.implementation} {self.version['Version']})"

    def _write_block(self, cid: str, data: bytes) -> None:
        codec = (
            {"format": "raw", "version": "1"}
            if self.implementation == "js-ipfs"
            else {"cid-codec": "raw", "mhtype": "sha2-256"}
        )
        answer = self._post(
            "block/put",
            params=codec,
            files={"file": ("block", data, "application/octet-stream")},
            what=f"storing block {cid}",
        ).json()
        stored = normalize_cid(answer["Key"])
        if stored != cid:
            raise DatastoreError(f"IPFS node at {self.url} stored block {cid} as {stored}")

    def _read_block(self, cid: str) -> bytes:
        return self._post(
            "block/get",
            params={"arg": cid, "timeout": f"{self.timeout_s:g}s"},
            what=f"fetching block {cid}",
            missing=cid,
        ).content

    def _has_block(self, cid: str) -> bool:
        if self.implementation == "kubo":
            try:
                self._post(
                    "block/stat",
                    params={"arg": cid, "offline": "true"},
                    what=f"looking up block {cid}",
                    missing=cid,
                )
            except BlockNotFoundError:
                return False
            return True
        # js-ipfs has no offline flag: block/stat on an absent block waits for the
        # network, so the node's list of local blocks is searched instead.
        local = self._call(self.client.unstable.refs.local)
        return any(normalize_cid(entry["Ref"]) == cid for entry in local)

    def _post(self, command, *, params, what, files=None, missing=None) -> requests.Response:
        # The node enforces its own timeout; the margin lets its error answer arrive first.
        deadline_s = self.timeout_s + 5
        try:
            response = requests.post(
                f"{self.url}/api/v0/{command}", params=params, files=files, timeout=deadline_s
            )
        except requests.Timeout:
            if missing:
                raise BlockNotFoundError(self._not_found(missing)) from None
            raise DatastoreError(
                f"IPFS node at {self.url} did not answer {what} within {deadline_s} s"
            ) from None
        except requests.ConnectionError:
            raise DatastoreError(f"no IPFS node answers at {self.url} ({what})") from None
        if response.ok:
            return response
        try:
            message = response.json().get("Message", response.text)
        except ValueError:
            message = response.text
        message = " ".join(str(message).split()) or f"HTTP {response.status_code}"
        if missing and re.search(r"not found|timed out|timeout|deadline", message, re.IGNORECASE):
            raise BlockNotFoundError(self._not_found(missing))
        raise DatastoreError(f"IPFS node at {self.url} failed {what}: {message}")

    def _not_found(self, cid: str) -> str:
        return (
            f"block {cid} was not found on the IPFS node at {self.url} within {self.timeout_s:g} s"
        )

    def _call(self, method):
        # ipfshttpclient 0.7 passes urllib3 2 a `strict` argument it deprecates; the
        # warning is about the library, not about this call.
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                return method(timeout=self.timeout_s)
        except ipfshttpclient.exceptions.ConnectionError:
            raise DatastoreError(f"no IPFS node answers at {self.url}") from None
        except ipfshttpclient.exceptions.TimeoutError:
            raise DatastoreError(
                f"IPFS node at {self.url} did not answer within {self.timeout_s:g} s"
            ) from None
        except ipfshttpclient.exceptions.Error as error:
            raise DatastoreError(f"IPFS node at {self.url} failed: {error}") from None
