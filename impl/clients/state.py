"""A party's durable state: one SQLite file per party, so a killed client resumes.

Three things survive a restart:
- `facts`: the party's Data[sid] of Figure 3 (keys, indices, scores, flags), as JSON
  values under (scope, name); each change made while handling a block is journaled
  with the value it replaced, so a reorg that drops the block undoes it;
- `handled`: the events already handled, by (tx hash, log index), with the block
  they came in, and the follower's cursor with the hashes of recent blocks, so a
  reorg is noticed and its events are handled again once re-included;
- `intents`: the transactions the party decided to send, by a stable name
  ("sample_data:0xabc…"), with their arguments and the hash of the last attempt, so
  a transaction lost to a crash or a reorg is sent again, and never twice by mistake.

A handler's decisions and its `handled` mark commit in one SQLite transaction
(`StateStore.transaction`), so an event is handled exactly once as far as the
state can tell, whatever instant the process dies at.
"""

import json
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
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
    status TEXT, tx_hash TEXT, block_number INTEGER, attempts INTEGER, detail TEXT,
    created INTEGER
);
"""

# Intent statuses: `new` (decided, not sent), `sent` (a transaction is out, not yet
# seen at the confirmation depth), `final` (its receipt is `confirmations` deep),
# `failed` (the contract refused it; `detail` holds the revert reason).
NEW, SENT, FINAL, FAILED = "new", "sent", "final", "failed"


@dataclass(frozen=True)
class Intent:
    name: str
    interface: str
    args: list
    value: int
    status: str
    tx_hash: str | None
    block_number: int | None
    attempts: int
    detail: str | None


def _encode(value) -> str:
    return json.dumps(value, default=_bytes_to_json, sort_keys=True)


def _bytes_to_json(value):
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": bytes(value).hex()}
    raise TypeError(f"cannot store {type(value).__name__} in the state store")


def _decode(text: str):
    return json.loads(
        text, object_hook=lambda d: bytes.fromhex(d["$bytes"]) if set(d) == {"$bytes"} else d
    )


class StateStore:
    """The SQLite file of one party; safe to share between threads of one process."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._lock = threading.RLock()
        self._depth = 0
        self.journal_block: int | None = None  # the block whose events are being handled

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

    # Facts: Data[sid] of Figure 3

    def get(self, scope: str, name: str, default=None):
        row = self._execute(
            "SELECT value FROM facts WHERE scope=? AND name=?", (scope, name)
        ).fetchone()
        return default if row is None else _decode(row[0])

    def put(self, scope: str, name: str, value) -> None:
        if self.journal_block is not None:
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

    def scope(self, scope: str) -> dict:
        rows = self._execute("SELECT name, value FROM facts WHERE scope=?", (scope,)).fetchall()
        return {name: _decode(value) for name, value in rows}

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
        """Restart following from block `number` + 1 (used once, when a party joins late)."""
        self._execute("INSERT OR REPLACE INTO blocks VALUES (?, ?)", (number, ""))

    def recent_blocks(self) -> list[tuple[int, str]]:
        return self._execute("SELECT number, hash FROM blocks ORDER BY number").fetchall()

    def record_block(self, number: int, block_hash: str, keep: int) -> None:
        self._execute("INSERT OR REPLACE INTO blocks VALUES (?, ?)", (number, block_hash))
        self._execute("DELETE FROM blocks WHERE number <= ?", (number - keep,))
        self._execute("DELETE FROM journal WHERE block_number <= ?", (number - keep,))

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
        # attempts=0: a revert on re-sending means the chain moved elsewhere, not "done".
        self._execute(
            "UPDATE intents SET status=?, attempts=0 WHERE status IN (?, ?) AND block_number >= ?",
            (SENT, FINAL, SENT, number),
        )

    # Intents: transactions the party decided to send

    def add_intent(self, name: str, interface: str, args: list, value: int = 0) -> bool:
        """Record a decision to call `interface`; False if one of that name stands already.

        A decision that failed is taken again (the event that led to it was handled
        again, after a reorg): it becomes new, with the new arguments.
        """
        cursor = self._execute(
            "INSERT INTO intents VALUES (?, ?, ?, ?, ?, NULL, NULL, 0, NULL,"
            " (SELECT COUNT(*) FROM intents)) ON CONFLICT (name) DO UPDATE SET"
            " args=excluded.args, value=excluded.value, status=excluded.status, tx_hash=NULL,"
            " block_number=NULL, attempts=0, detail=NULL WHERE intents.status=?",
            (name, interface, _encode(args), value, NEW, FAILED),
        )
        return cursor.rowcount == 1

    def intent(self, name: str) -> Intent | None:
        row = self._execute(
            "SELECT name, interface, args, value, status, tx_hash, block_number, attempts, detail"
            " FROM intents WHERE name=?",
            (name,),
        ).fetchone()
        return None if row is None else _intent(row)

    def intents(self, *statuses: str) -> list[Intent]:
        marks = ",".join("?" * len(statuses))
        rows = self._execute(
            "SELECT name, interface, args, value, status, tx_hash, block_number, attempts, detail"
            f" FROM intents WHERE status IN ({marks}) ORDER BY created",
            statuses,
        ).fetchall()
        return [_intent(row) for row in rows]

    def update_intent(self, name: str, **fields) -> None:
        assignments = ", ".join(f"{key}=?" for key in fields)
        self._execute(f"UPDATE intents SET {assignments} WHERE name=?", (*fields.values(), name))


def _intent(row) -> Intent:
    name, interface, args, value, status, tx_hash, block_number, attempts, detail = row
    return Intent(
        name, interface, _decode(args), value, status, tx_hash, block_number, attempts, detail
    )
