"""A party's durable state: one SQLite file per party, so a killed client resumes.

Three things survive a restart:
- `facts`: the party's Data[sid] of Figure 3 (keys, indices, scores, flags), as JSON
  values under (scope, name); each change made while handling a block is journaled
  with the value it replaced, so a reorg that drops the block undoes it;
- `handled`: the events already handled, by (tx hash, log index), with the block
  they came in, and the follower's cursor with the hashes of recent blocks, so a
  reorg is noticed and its events are handled again once re-included;
- `intents`: the transactions the party decided to send, by a stable name
  ("sample_data:0xabc…"), with their arguments, the nonce they hold and the hash of
  every signed attempt (noted before it is broadcast), so a transaction lost to a
  crash or a reorg is recognised or sent again, and never twice by mistake.

A handler's decisions and its `handled` mark commit in one SQLite transaction
(`StateStore.transaction`), so an event is handled exactly once as far as the
state can tell, whatever instant the process dies at.

Secrets at rest: `put_secret` keeps a fact encrypted (AES-GCM under a key derived
from the party's signing key, `hyperx.impl.crypto.at_rest`); `get` and `scope` open
it again, so handlers read secrets like any fact. `write_secret_file` does the same
for files kept beside the database (a bought dataset). The folder is created 0700
and every file 0600 (`private_umask`), so no other local user can read them either.
"""

import json
import os
import sqlite3
import stat
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hyperx.impl.crypto import (
    CryptoError,
    derive_at_rest_key,
    new_salt,
    open_at_rest,
    seal_at_rest,
)
from hyperx.impl.errors import BadInput

SCHEMA_VERSION = "2"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS facts (scope TEXT, name TEXT, value TEXT, PRIMARY KEY (scope, name));
CREATE TABLE IF NOT EXISTS handled (
    event_id TEXT PRIMARY KEY, block_number INTEGER, block_hash TEXT
);
CREATE TABLE IF NOT EXISTS blocks (number INTEGER PRIMARY KEY, hash TEXT);
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, block_number INTEGER, scope TEXT, name TEXT, old TEXT
);
CREATE TABLE IF NOT EXISTS intents (
    name TEXT PRIMARY KEY, interface TEXT, args TEXT, value INTEGER,
    status TEXT, tx_hash TEXT, block_number INTEGER, nonce INTEGER, hashes TEXT, fees TEXT,
    detail TEXT, created INTEGER
);
"""
KEY_CHECK = b"hyperx state key check"

# Intent statuses: `new` (decided, not sent), `sent` (signed and broadcast, not yet
# mined `confirmations` deep), `mined` (its receipt is `confirmations` deep, or an
# earlier attempt is known to have landed), `failed` (the contract refused it;
# `detail` holds the revert reason). Whether a mined intent is also final is the
# finality rule's to say (`hyperx.impl.clients.finality`).
NEW, SENT, MINED, FAILED = "new", "sent", "mined", "failed"
INTENT_COLUMNS = (
    "name, interface, args, value, status, tx_hash, block_number, nonce, hashes, fees, detail"
)


class StateError(BadInput):
    """A state folder or file this party cannot use as it is; the message says what to do."""


@dataclass(frozen=True)
class Intent:
    name: str
    interface: str
    args: list
    value: int
    status: str
    tx_hash: str | None  # the attempt that was mined, else the newest one
    block_number: int | None  # the block it was mined in, once it was
    nonce: int | None
    hashes: list  # every attempt, oldest first
    fees: list | None  # the newest attempt's fees: [max fee, priority fee] per gas, in wei
    detail: str | None


@dataclass(frozen=True)
class Sealed:
    """A secret fact as stored: AES-GCM bytes, opened by the store that holds the key."""

    blob: bytes


@contextmanager
def private_umask():
    """Folders and files created inside are the owner's alone (0700, 0600), from their creation."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def make_private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) 0700; refuse one that others can enter."""
    path = Path(path)
    with private_umask():
        path.mkdir(parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise StateError(
            f"{path} is open to other users (mode {mode:04o}); it will hold secrets:"
            f" run `chmod 700 {path}` or choose a new folder"
        )
    return path


def _encode(value) -> str:
    return json.dumps(value, default=_to_json, sort_keys=True)


def _to_json(value):
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": bytes(value).hex()}
    if isinstance(value, Sealed):
        return {"$sealed": value.blob.hex()}
    raise TypeError(f"cannot store {type(value).__name__} in the state store")


def _from_json(d: dict):
    if set(d) == {"$bytes"}:
        return bytes.fromhex(d["$bytes"])
    if set(d) == {"$sealed"}:
        return Sealed(bytes.fromhex(d["$sealed"]))
    return d


def _decode(text: str):
    return json.loads(text, object_hook=_from_json)


class StateStore:
    """The SQLite file of one party; safe to share between threads of one process.

    `signing_key` (the party's 32-byte private key; or `unlock` later, as `Party`
    does) unlocks the secrets; a store opened without it keeps and reads the rest.
    """

    def __init__(self, path: str | Path, signing_key: bytes | None = None):
        self.path = Path(path)
        in_memory = str(path) == ":memory:"
        if not in_memory:
            make_private_dir(self.path.parent)
            # The file exists, 0600, before SQLite opens it: SQLite gives its -wal and
            # -shm files the database file's mode.
            with private_umask():
                os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._lock = threading.RLock()
        self._depth = 0
        self.journal_block: int | None = None  # the block whose events are being handled
        with self._lock, private_umask():
            self._check_schema()
        self._key = None
        if signing_key is not None:
            self.unlock(signing_key)

    def _check_schema(self) -> None:
        tables = {
            row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if tables and "meta" not in tables:
            raise StateError(
                f"{self.path} was written by an older HyperX; start with a new --state-dir"
            )
        self._db.executescript(SCHEMA)
        version = self.meta("schema")
        if version is None:
            self.set_meta("schema", SCHEMA_VERSION)
        elif version != SCHEMA_VERSION:
            raise StateError(
                f"{self.path} holds state schema {version}, this HyperX reads {SCHEMA_VERSION};"
                " start with a new --state-dir"
            )

    @property
    def is_unlocked(self) -> bool:
        return self._key is not None

    def unlock(self, signing_key: bytes) -> None:
        """Derive the at-rest key; the first signing key a store sees is the only one it takes."""
        salt = self.meta("salt")
        if salt is None:
            salt = new_salt().hex()
            self.set_meta("salt", salt)
        key = derive_at_rest_key(bytes(signing_key), bytes.fromhex(salt))
        check = self.meta("key_check")
        if check is None:
            self.set_meta("key_check", seal_at_rest(key, KEY_CHECK, b"meta/key_check").hex())
        else:
            try:
                open_at_rest(key, bytes.fromhex(check), b"meta/key_check")
            except CryptoError:
                raise StateError(
                    f"{self.path} belongs to another key: start this party with the key that"
                    " created it, or with a new --state-dir"
                ) from None
        self._key = key

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self):
        """All writes inside commit together or not at all (nested blocks join the outer one)."""
        with self._lock:
            if self._depth == 0:
                self._db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self._db.execute("ROLLBACK")
                raise
            self._depth -= 1
            if self._depth == 0:
                self._db.execute("COMMIT")

    @contextmanager
    def journaling(self, block_number: int):
        """Changes to facts inside are journaled as made while handling `block_number`."""
        self.journal_block = block_number
        try:
            yield self
        finally:
            self.journal_block = None

    def _execute(self, sql: str, params=()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, params)

    def meta(self, name: str) -> str | None:
        row = self._execute("SELECT value FROM meta WHERE name=?", (name,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, name: str, value: str) -> None:
        self._execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, value))

    # Facts: Data[sid] of Figure 3

    def get(self, scope: str, name: str, default=None):
        row = self._execute(
            "SELECT value FROM facts WHERE scope=? AND name=?", (scope, name)
        ).fetchone()
        return default if row is None else self._open(scope, name, _decode(row[0]))

    def put(self, scope: str, name: str, value, *, lasting: bool = False) -> None:
        """Keep `value`; a reorg that drops the block being handled undoes it, unless it
        is `lasting`: what an intent's arguments were computed from must last as the
        intent does (intents survive reorgs and are sent again as they were)."""
        if self.journal_block is not None and not lasting:
            row = self._execute(
                "SELECT value FROM facts WHERE scope=? AND name=?", (scope, name)
            ).fetchone()
            self._execute(
                "INSERT INTO journal (block_number, scope, name, old) VALUES (?, ?, ?, ?)",
                (self.journal_block, scope, name, None if row is None else row[0]),
            )
        self._execute(
            "INSERT INTO facts VALUES (?, ?, ?) ON CONFLICT (scope, name) DO UPDATE SET value=excluded.value",
            (scope, name, _encode(value)),
        )

    def put_secret(self, scope: str, name: str, value, *, lasting: bool = False) -> None:
        """Like `put`, encrypted at rest; `get` and `scope` return the value in clear."""
        where = f"fact/{scope}/{name}".encode()
        sealed = Sealed(seal_at_rest(self._need_key(), _encode(value).encode(), where))
        self.put(scope, name, sealed, lasting=lasting)

    def scope(self, scope: str) -> dict:
        rows = self._execute("SELECT name, value FROM facts WHERE scope=?", (scope,)).fetchall()
        return {name: self._open(scope, name, _decode(value)) for name, value in rows}

    def _open(self, scope: str, name: str, value):
        if not isinstance(value, Sealed):
            return value
        where = f"fact/{scope}/{name}".encode()
        return _decode(open_at_rest(self._need_key(), value.blob, where).decode())

    def _need_key(self) -> bytes:
        if self._key is None:
            raise StateError(f"{self.path} keeps secrets: open it with the party's signing key")
        return self._key

    # Files beside the database, encrypted at rest

    def write_secret_file(self, name: str, data: bytes) -> Path:
        path = self.path.with_name(name)
        sealed = seal_at_rest(self._need_key(), data, f"file/{name}".encode())
        partial = path.with_name(name + ".partial")
        with private_umask():
            partial.write_bytes(sealed)
        partial.replace(path)
        return path

    def read_secret_file(self, name: str) -> bytes:
        sealed = self.path.with_name(name).read_bytes()
        return open_at_rest(self._need_key(), sealed, f"file/{name}".encode())

    # Handled events and the follower's view of recent blocks

    def is_handled(self, event_id: str) -> bool:
        return (
            self._execute("SELECT 1 FROM handled WHERE event_id=?", (event_id,)).fetchone()
            is not None
        )

    def mark_handled(self, event_id: str, block_number: int, block_hash: str) -> None:
        self._execute(
            "INSERT OR REPLACE INTO handled VALUES (?, ?, ?)", (event_id, block_number, block_hash)
        )

    def cursor(self) -> int:
        """The last block whose events were all handled (-1 before the first)."""
        row = self._execute("SELECT MAX(number) FROM blocks").fetchone()
        return -1 if row[0] is None else row[0]

    def set_cursor(self, number: int) -> None:
        """Follow from block `number` + 1 on (a party's first start: where the market begins)."""
        self._execute("INSERT OR REPLACE INTO blocks VALUES (?, ?)", (number, ""))
        if self.meta("start_block") is None:
            self.set_meta("start_block", str(number + 1))

    def start_block(self) -> int:
        """The first block this party followed."""
        return int(self.meta("start_block") or 0)

    def recent_blocks(self) -> list[tuple[int, str]]:
        return self._execute("SELECT number, hash FROM blocks ORDER BY number").fetchall()

    def record_block(self, number: int, block_hash: str, forget_below: int) -> None:
        """Note that every event up to `number` is handled; drop what no reorg can reach
        any more (blocks and journal entries at or below `forget_below`)."""
        self._execute("INSERT OR REPLACE INTO blocks VALUES (?, ?)", (number, block_hash))
        self._execute("DELETE FROM blocks WHERE number <= ? AND number < ?", (forget_below, number))
        self._execute("DELETE FROM journal WHERE block_number <= ?", (forget_below,))

    def newest_acted_block(self) -> int | None:
        """The newest block that changed a fact or holds a transaction of this party."""
        row = self._execute(
            "SELECT MAX(b) FROM (SELECT MAX(block_number) AS b FROM journal"
            " UNION ALL SELECT MAX(block_number) FROM intents WHERE status IN (?, ?))",
            (MINED, FAILED),
        ).fetchone()
        return row[0]

    def forget_from(self, number: int) -> None:
        """A reorg replaced blocks >= `number`: undo what handling them changed, and
        handle their events again; transactions mined there are watched again."""
        undo = self._execute(
            "SELECT scope, name, old FROM journal WHERE block_number >= ? ORDER BY seq DESC",
            (number,),
        ).fetchall()
        for scope, name, old in undo:
            if old is None:
                self._execute("DELETE FROM facts WHERE scope=? AND name=?", (scope, name))
            else:
                self._execute(
                    "UPDATE facts SET value=? WHERE scope=? AND name=?", (old, scope, name)
                )
        self._execute("DELETE FROM journal WHERE block_number >= ?", (number,))
        self._execute("DELETE FROM blocks WHERE number >= ?", (number,))
        self._execute("DELETE FROM handled WHERE block_number >= ?", (number,))
        self._execute(
            "UPDATE intents SET status=?, block_number=NULL, detail=NULL"
            " WHERE status IN (?, ?, ?) AND block_number >= ?",
            (SENT, SENT, MINED, FAILED, number),
        )

    # Intents: transactions the party decided to send

    def add_intent(self, name: str, interface: str, args: list, value: int = 0) -> bool:
        """Record a decision to call `interface`; False if one of that name stands already.

        A decision that failed is taken again (the event that led to it was handled
        again, after a reorg): it becomes new, with the new arguments. The arguments
        are kept encrypted: a call may carry what is secret until it lands (keys).
        """
        sealed = seal_at_rest(self._need_key(), _encode(args).encode(), f"intent/{name}".encode())
        cursor = self._execute(
            "INSERT INTO intents VALUES (?, ?, ?, ?, ?, NULL, NULL, NULL, '[]', NULL, NULL,"
            " (SELECT COUNT(*) FROM intents)) ON CONFLICT (name) DO UPDATE SET"
            " args=excluded.args, value=excluded.value, status=excluded.status, tx_hash=NULL,"
            " block_number=NULL, nonce=NULL, hashes='[]', fees=NULL, detail=NULL"
            " WHERE intents.status=?",
            (name, interface, sealed.hex(), value, NEW, FAILED),
        )
        return cursor.rowcount == 1

    def intent(self, name: str) -> Intent | None:
        row = self._execute(
            f"SELECT {INTENT_COLUMNS} FROM intents WHERE name=?", (name,)
        ).fetchone()
        return None if row is None else self._intent(row)

    def intents(self, *statuses: str) -> list[Intent]:
        marks = ",".join("?" * len(statuses))
        rows = self._execute(
            f"SELECT {INTENT_COLUMNS} FROM intents WHERE status IN ({marks}) ORDER BY created",
            statuses,
        ).fetchall()
        return [self._intent(row) for row in rows]

    def update_intent(self, name: str, **fields) -> None:
        assignments = ", ".join(f"{key}=?" for key in fields)
        self._execute(f"UPDATE intents SET {assignments} WHERE name=?", (*fields.values(), name))

    def note_attempt(self, name: str, tx_hash: str, nonce: int, fees: list | None) -> None:
        """A signed transaction for intent `name`, noted (and committed) before it is broadcast."""
        intent = self.intent(name)
        self.update_intent(
            name,
            status=SENT,
            tx_hash=tx_hash,
            nonce=nonce,
            block_number=None,
            hashes=json.dumps([*intent.hashes, tx_hash]),
            fees=json.dumps(fees),
        )

    def _intent(self, row) -> Intent:
        name, interface, args, value, status, tx_hash, block_number, nonce, hashes, fees, detail = (
            row
        )
        opened = open_at_rest(self._need_key(), bytes.fromhex(args), f"intent/{name}".encode())
        return Intent(
            name,
            interface,
            _decode(opened.decode()),
            value,
            status,
            tx_hash,
            block_number,
            nonce,
            json.loads(hashes or "[]"),
            json.loads(fees) if fees else None,
            detail,
        )
