"""Secrets at rest: after a whole session, no secret of any party is readable by another
local user (state folder 0700, files 0600) or in clear in its files (K_data, shard
keys, the bought dataset), and `hyperx session run` leaves nothing in the temporary
folder, even when it fails."""

import os
import stat
import tempfile
import zipfile

import pytest

from hyperx.cli import run
from hyperx.impl.clients.collector import dataset_file
from hyperx.impl.clients.session import Loop, SessionError
from hyperx.impl.clients.state import StateError, StateStore
from tests.clients_harness import make_assessor, make_embedded, new_session


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A session closed on the embedded EVM, its state in a folder that did not exist."""
    state_dir = tmp_path_factory.mktemp("session") / "state"
    harness = new_session(make_embedded(), make_assessor(), state_dir, providers=2)
    harness.run(300)
    assert harness.report().state == "closed"
    return harness, state_dir


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_state_folder_and_files_are_the_owners_alone(finished):
    _, state_dir = finished
    assert mode(state_dir) == 0o700
    files = [*state_dir.glob("*.sqlite*"), *state_dir.glob("*.sealed")]
    assert len(files) >= 4 and {mode(f) for f in files} == {0o600}, files


def test_no_secret_in_clear_in_any_file(finished):
    """Every K_data, and every shard key not revealed on chain (the optimal provider's
    are public once it claims), in neither bytes nor hex, in no SQLite file or WAL."""
    harness, state_dir = finished
    secrets = []
    optimal = harness.collector.facts()["optimal"]
    for provider in harness.providers:
        facts = provider.facts()
        secrets += [facts["k_data"], *(facts["keys"] if provider.address != optimal else [])]
    for facts in harness.collector.providers().values():
        if "k_data" in facts:
            secrets.append(facts["k_data"])
    assert len(secrets) >= 2 + 8
    on_disk = b"".join(path.read_bytes() for path in state_dir.glob("*.sqlite*"))
    for secret in secrets:
        assert secret not in on_disk and secret.hex().encode() not in on_disk


def test_bought_dataset_is_sealed_and_opens_with_the_collectors_key(finished):
    harness, state_dir = finished
    sealed = state_dir / dataset_file(harness.collector.session())
    assert not zipfile.is_zipfile(sealed)
    opened = harness.collector.state.read_secret_file(sealed.name)
    assert zipfile.is_zipfile(__import__("io").BytesIO(opened))


def test_a_state_file_opens_only_with_the_key_that_made_it(finished):
    harness, state_dir = finished
    with pytest.raises(StateError, match="belongs to another key"):
        StateStore(state_dir / "collector.sqlite", b"\x01" * 32)
    reopened = StateStore(state_dir / "collector.sqlite", harness.collector.account.private_key)
    assert reopened.get("collector", "sid") == harness.collector.session()


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """A temporary folder of our own for `tempfile`, to see what a run leaves there."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    previous = os.umask(0o022)
    yield folder
    os.umask(previous)


def test_session_run_leaves_no_temporary_folder(private_tmp, capsys):
    argv = ["session", "run", "--providers", "2", "--shards", "8", "--quality", "tiny", "--json"]
    assert run(argv) == 0, capsys.readouterr().err
    assert list(private_tmp.iterdir()) == []


def test_session_run_leaves_no_temporary_folder_when_it_fails(private_tmp, capsys, monkeypatch):
    seen = []

    def fail(self, timeout_s, until=None):
        seen.extend(private_tmp.glob("hyperx-session-*/*.sqlite"))  # the parties' state exists
        raise SessionError("the session did not finish (a test stops it)")

    monkeypatch.setattr(Loop, "run", fail)
    argv = ["session", "run", "--providers", "2", "--shards", "8", "--quality", "tiny", "--json"]
    assert run(argv) == 1
    assert capsys.readouterr().err == "error: the session did not finish (a test stops it)\n"
    assert len(seen) == 3 and list(private_tmp.iterdir()) == []
