"""Secrets at rest: after a whole session, no secret of any party is readable by another
local user (state folder 0700, files 0600) or in clear in its files (master keys, shard
keys, the review key's secret, the bought dataset), and `hyperx session run` leaves
nothing in the temporary folder, even when it fails."""

import os
import stat
import tempfile
import zipfile

import pytest

from hyperx.cli import run
from hyperx.impl.clients.collector import dataset_file
from hyperx.impl.clients.session import Loop, SessionError
from hyperx.impl.clients.state import StateError, StateStore
from hyperx.spec.sealing import compute_shard_key
from tests.clients_harness import make_assessor, new_session


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A session closed on the spec's F_BC, its state in a folder that did not exist."""
    state_dir = tmp_path_factory.mktemp("session") / "state"
    harness = new_session(None, make_assessor(), state_dir, providers=2)
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
    """Every master key and every shard key (none is ever on chain in clear: the sample's
    and the master key travel sealed), and the collector's review secret, as bytes, hex
    or a number, in no SQLite file or WAL."""
    harness, state_dir = finished
    secrets = []
    for provider in harness.providers:
        facts = provider.facts()
        master_key = facts["master_key"]
        secrets += [master_key, *(compute_shard_key(master_key, i) for i in range(8))]
    secrets.append(harness.collector.review_secret().to_bytes(32, "big"))
    assert len(secrets) == 2 * (1 + 8) + 1
    on_disk = b"".join(path.read_bytes() for path in state_dir.glob("*.sqlite*"))
    for secret in secrets:
        for form in (secret, secret.hex().encode(), str(int.from_bytes(secret, "big")).encode()):
            assert form not in on_disk


def test_features_on_the_datastore_are_sealed(finished):
    """What a provider publishes of its sample is for the collector alone."""
    harness, _ = finished
    for pid, facts in harness.collector.providers().items():
        opened = harness.collector.open_features(pid)
        sealed = harness.store.get(facts["features_cid"])
        assert len(opened) > 1_000 and opened[-512:-256] not in sealed


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
