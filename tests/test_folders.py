"""The data folder (``langchain_lightmem/folder.py``): one process per embedded folder, vacuum refused while the
folder is in use, read-only folders open for reading, a damaged derived index heals, a damaged journal is a typed
error naming the file.

Tests that need a second process start real ones (``python -c``). Read-only folders are simulated with a read-only
bind mount in a private mount namespace when the tests run as root (root writes through ``chmod a-w``), and with
``chmod -R a-w`` otherwise.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from langchain_lightmem import LightMem, LightMemConfig, errors
from langchain_lightmem.cli import main

pytestmark = pytest.mark.integration  # real subprocesses and on-disk Chroma


class _Missing(Exception):
    """Stands for an error class a version does not have, so that each test shows that version's own failure."""


FolderInUseError = getattr(errors, "FolderInUseError", _Missing)
JournalCorruptError = getattr(errors, "JournalCorruptError", _Missing)

SETUP = """
import json, sys
from langchain_lightmem import LightMem, LightMemConfig
from langchain_lightmem import errors
class Missing(Exception):  # so that these scripts also run (and show the old behaviour) on a version without them
    pass
FolderInUseError = getattr(errors, "FolderInUseError", Missing)
ReadOnlyFolderError = getattr(errors, "ReadOnlyFolderError", Missing)
config = LightMemConfig(data_dir=sys.argv[1], embeddings={"backend": "static"}, **json.loads(sys.argv[2]))
"""


def config_for(data_dir: Path, **extra) -> LightMemConfig:
    return LightMemConfig(data_dir=data_dir, embeddings={"backend": "static"}, **extra)


def python(code: str, data_dir: Path, extra: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    """Run ``code`` (after SETUP) in a new Python process; ``config`` is the folder's config there."""
    script = SETUP + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", script, str(data_dir), json.dumps(extra or {})],
        capture_output=True,
        text=True,
        timeout=180,
        **kwargs,
    )


class Holder:
    """A second process that opens the folder and keeps it open until told to search and exit."""

    def __init__(self, data_dir: Path, extra: dict | None = None) -> None:
        code = SETUP + textwrap.dedent(
            """
            memory = LightMem(config)
            print("ready", flush=True)
            sys.stdin.readline()
            hits = [h.entry.text for h in memory.search("alice", "locker", k=3)]
            memory.close()
            print(json.dumps(hits), flush=True)
            """
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, str(data_dir), json.dumps(extra or {})],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.strip() == "ready", self.proc.stderr.read() if self.proc.stderr else line

    def finish(self) -> list[str]:
        out, err = self.proc.communicate("go\n", timeout=120)
        assert self.proc.returncode == 0, err
        return json.loads(out.strip().splitlines()[-1])


def populate(data_dir: Path, *, pending: bool = True) -> None:
    with LightMem(config_for(data_dir)) as memory:
        memory.add(
            [
                {"role": "user", "content": "my locker code is 4471", "timestamp": "2024-05-01T10:00:00Z"},
                {"role": "user", "content": "I drink green tea every morning", "timestamp": "2024-05-01T10:01:00Z"},
            ],
            namespace="alice",
            thread_id="t1",
        )
        memory.flush("alice")
        if pending:  # accepted, not extracted yet: searchable as pending entries
            memory.add(
                [{"role": "user", "content": "my bike is a red gravel bike", "timestamp": "2024-05-02T10:00:00Z"}],
                namespace="alice",
                thread_id="t2",
            )


# -- (d) one process per embedded folder ------------------------------------------------------------------------


def test_a_second_process_cannot_open_an_embedded_folder_and_is_told_about_server_mode(tmp_path):
    data = tmp_path / "data"
    memory = LightMem(config_for(data))
    try:
        proc = python(
            """
            try:
                LightMem(config)
            except FolderInUseError as exc:
                print(json.dumps({"message": str(exc), "pid": exc.pid, "path": str(exc.path)}))
            else:
                print(json.dumps({"message": None}))
            """,
            data,
        )
        assert proc.returncode == 0, proc.stderr
        refused = json.loads(proc.stdout)
        assert refused["message"] is not None, "a second process opened an embedded folder already in use"
        assert refused["pid"] == os.getpid() and f"pid {os.getpid()}" in refused["message"]
        assert str(data.resolve()) in refused["message"] and refused["path"] == str(data.resolve())
        assert "chroma run" in refused["message"] and "LIGHTMEM_CHROMA_URL" in refused["message"]
    finally:
        memory.close()
    proc = python("LightMem(config).close(); print('opened')", data)
    assert proc.returncode == 0 and proc.stdout.strip() == "opened", proc.stderr  # free again once closed


def test_the_cli_refuses_a_folder_in_use_in_one_line(tmp_path):
    data = tmp_path / "data"
    populate(data, pending=False)
    with LightMem(config_for(data)):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "langchain_lightmem.cli",
                "--data-dir",
                str(data),
                "--embeddings",
                "static",
                "stats",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "folder is in use by pid" in proc.stderr, proc.stderr


def test_one_process_may_open_its_folder_twice(tmp_path):
    data = tmp_path / "data"
    first, second = LightMem(config_for(data)), LightMem(config_for(data))
    first.add([{"role": "user", "content": "I like tea"}], namespace="bob")
    first.flush("bob")
    assert second.search("bob", "tea")  # Chroma shares one client per path within a process
    first.close()
    assert python("LightMem(config)", data).returncode != 0  # the second instance still holds the folder
    second.close()
    assert python("LightMem(config).close()", data).returncode == 0


def test_a_forked_child_does_not_inherit_the_folder(tmp_path):
    data = tmp_path / "data"
    memory = LightMem(config_for(data))
    pid = os.fork()
    if pid == 0:  # the child: the parent's hold is the parent's, so opening the folder here must be refused
        signal.alarm(60)  # a forked copy of a process with Chroma's threads may hang if it gets as far as Chroma
        try:
            LightMem(config_for(data))
        except FolderInUseError:
            os._exit(0)
        except BaseException:
            os._exit(2)
        os._exit(1)
    _, status = os.waitpid(pid, 0)
    memory.close()
    assert os.waitstatus_to_exitcode(status) == 0, "a forked child opened the folder its parent holds"
    proc = python("LightMem(config).close()", data)
    assert proc.returncode == 0, proc.stderr  # the child's copy of the lock did not outlive the parent's hold


def test_a_killed_holder_leaves_the_folder_free(tmp_path):
    data = tmp_path / "data"
    holder = Holder(data)
    holder.proc.send_signal(signal.SIGKILL)
    holder.proc.wait(timeout=30)
    LightMem(config_for(data)).close()  # no stale lock: flock dies with its process


def test_server_mode_processes_share_the_folder_and_vacuum_waits_for_it_to_be_free(tmp_path):
    # Over a Chroma server the journal and lexical index are shared (shared locks); a vacuum needs the folder alone.
    data = tmp_path / "data"
    server = config_for(data, chroma={"mode": "http", "host": "127.0.0.1", "port": 9})  # never contacted here
    from langchain_lightmem.folder import DataFolder

    mine = DataFolder.open(server)
    assert mine.mode == "shared"
    code = """
        from langchain_lightmem.folder import DataFolder
        folder = DataFolder.open(config)
        print(folder.mode, flush=True)
        sys.stdin.readline()
        folder.close()
        """
    other = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SETUP + textwrap.dedent(code),
            str(data),
            json.dumps({"chroma": server.chroma.model_dump()}),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "shared"
        with pytest.raises(FolderInUseError, match="folder is in use"), mine.exclusive():
            pass
        embedded = python("LightMem(config)", data)  # an embedded client cannot join processes sharing the folder
        assert embedded.returncode != 0 and "FolderInUseError" in embedded.stderr
    finally:
        other.communicate("done\n", timeout=30)
    with mine.exclusive():  # alone now
        assert mine.mode == "exclusive"
    assert mine.mode == "shared"  # held exclusively only for the block
    mine.close()


# -- (e) vacuum refuses while another process has the folder ------------------------------------------------------


def test_forget_vacuum_refuses_while_another_process_has_the_folder_and_does_not_break_it(tmp_path, capsys):
    data = tmp_path / "data"
    populate(data, pending=False)
    holder = Holder(data)
    try:
        code = main(
            ["--data-dir", str(data), "--embeddings", "static", "forget", "--namespace", "alice", "--yes", "--vacuum"]
        )
        err = capsys.readouterr().err
        assert code == 2, err
        assert len(err.strip().splitlines()) == 1 and "folder is in use" in err, err
    finally:
        hits = holder.finish()
    assert any("4471" in text for text in hits)  # the holder still works, and nothing was forgotten


def test_offline_vacuum_refuses_while_another_process_has_the_folder(tmp_path):
    from langchain_lightmem.maintenance import vacuum

    data = tmp_path / "data"
    populate(data, pending=False)
    holder = Holder(data)
    try:
        with pytest.raises(FolderInUseError, match="folder is in use"):
            vacuum(config_for(data))
    finally:
        assert holder.finish()
    assert str(config_for(data).journal_path) in vacuum(config_for(data))  # free again


# -- (c) read-only folders ------------------------------------------------------------------------------------------


def _tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def run_read_only(folder: Path, code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a process that cannot write ``folder``."""
    script = SETUP + textwrap.dedent(code)
    argv = [sys.executable, "-c", script, str(folder), "{}"]
    if os.geteuid() != 0:
        subprocess.run(["chmod", "-R", "a-w", str(folder)], check=True)
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=180)
        finally:
            subprocess.run(["chmod", "-R", "u+w", str(folder)], check=True)
    # root ignores permissions: bind-mount the folder read-only over itself, in a mount namespace of its own
    unshare = shutil.which("unshare")
    mount = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && shift && exec "$@"'
    probe = subprocess.run(
        [unshare or "unshare", "--mount", "--propagation", "private", "sh", "-c", mount, "sh", str(folder), "true"],
        capture_output=True,
        text=True,
    )
    if unshare is None or probe.returncode != 0:
        pytest.skip(
            f"running as root and cannot make a read-only bind mount to simulate a read-only folder: {probe.stderr}"
        )
    return subprocess.run(
        [unshare, "--mount", "--propagation", "private", "sh", "-c", mount, "sh", str(folder), *argv],
        capture_output=True,
        text=True,
        timeout=180,
    )


READ_ONLY_SESSION = """
memory = LightMem(config)
out = {
    "read_only": getattr(memory, "read_only", None),
    "hybrid": [h.entry.text for h in memory.search("alice", "locker code", k=3)],
    "lexical": [h.entry.text for h in memory.search("alice", "green tea", k=3, mode="lexical")],
    "pending": [h.entry.text for h in memory.search("alice", "bike", k=3) if h.pending],
    "context": memory.context("alice", "what is the locker code?").render(),
    "entries": sorted(e.text for e in memory.entries("alice", include_pending=True)),
    "stats": [memory.stats("alice").entries, memory.stats("alice").pending],
    "recent": [m.content for m in memory.recent_messages("alice")],
    "namespaces": [list(ns) for ns in memory.namespaces()],
}
writes = {
    "add": lambda: memory.add([{"role": "user", "content": "new"}], namespace="alice", thread_id="t9"),
    "remember": lambda: memory.remember("alice", "a saved note", key="k"),
    "delete": lambda: memory.delete("alice", [e.id for e in memory.entries("alice")]),
    "forget": lambda: memory.forget("alice"),
    "flush": lambda: memory.flush("alice"),
    "clear a chat window": lambda: memory.start_chat_window("alice", "t1"),
}
out["writes"] = {}
for name, write in writes.items():
    try:
        result = write()
        # a stage failing after acceptance is returned, not raised (flush): its error must name the folder too
        out["writes"][name] = getattr(result, "deferred_error", None) or "accepted"
    except ReadOnlyFolderError as exc:
        out["writes"][name] = str(exc)
    except Exception as exc:
        out["writes"][name] = f"{type(exc).__name__}: {exc}"
out["after"] = [h.entry.text for h in memory.search("alice", "locker code", k=3)]
memory.close()
print(json.dumps(out))
"""


def test_a_read_only_folder_opens_for_reading_and_refuses_writes_by_name(tmp_path):
    data = tmp_path / "data"
    populate(data)
    before = _tree_digest(data)
    proc = run_read_only(data, READ_ONLY_SESSION)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["read_only"] is True
    assert any("4471" in t for t in out["hybrid"]) and any("4471" in t for t in out["after"])
    assert any("green tea" in t for t in out["lexical"])
    assert any("gravel bike" in t for t in out["pending"])
    assert "4471" in out["context"]
    assert len(out["entries"]) == 3 and out["stats"] == [2, 1]
    assert out["recent"][-1] == "my bike is a red gravel bike" and out["namespaces"] == [["alice"]]
    for name, outcome in out["writes"].items():
        assert str(data.resolve()) in outcome and "read-only" in outcome, (name, outcome)
    assert _tree_digest(data) == before  # not a byte of the folder changed


# -- (b) damaged files ----------------------------------------------------------------------------------------------


def test_a_garbage_lexical_index_is_rebuilt_from_chroma_with_a_warning(tmp_path, caplog):
    data = tmp_path / "data"
    populate(data, pending=False)
    lexical = config_for(data).lexical_path
    assert isinstance(lexical, Path)
    lexical.write_bytes(b"this is not a database " * 4096)
    with caplog.at_level(logging.WARNING), LightMem(config_for(data)) as memory:
        hits = memory.search("alice", "locker code", k=3, mode="lexical")
        assert any("4471" in h.entry.text for h in hits)
    assert any(str(lexical) in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    assert sqlite3.connect(lexical).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_damaged_page_of_the_lexical_index_heals_on_first_use(tmp_path, caplog):
    data = tmp_path / "data"
    populate(data, pending=False)
    lexical = config_for(data).lexical_path
    assert isinstance(lexical, Path)
    raw = bytearray(lexical.read_bytes())
    page = int.from_bytes(raw[16:18], "big")
    raw[page:] = b"\xff" * (len(raw) - page)  # every page but the first (the header and the schema) is garbage
    lexical.write_bytes(bytes(raw))
    with caplog.at_level(logging.WARNING), LightMem(config_for(data)) as memory:
        assert any("4471" in h.entry.text for h in memory.search("alice", "locker code", k=3, mode="lexical"))
        assert any("green tea" in h.entry.text for h in memory.search("alice", "green tea", k=3, mode="lexical"))
    assert any(str(lexical) in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_a_damaged_journal_is_a_typed_error_naming_the_file(tmp_path, capsys):
    data = tmp_path / "data"
    populate(data, pending=False)
    journal = config_for(data).journal_path
    journal.write_bytes(b"this is not a database " * 4096)
    with pytest.raises(JournalCorruptError) as caught:
        LightMem(config_for(data))
    assert caught.value.path == journal and str(journal) in str(caught.value)
    LightMem(config_for(tmp_path / "other")).close()  # nothing is left half-open by the failed open
    with pytest.raises(JournalCorruptError):
        LightMem(config_for(data))  # and the folder is not left locked by it
    code = main(["--data-dir", str(data), "--embeddings", "static", "stats"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and str(journal) in err, err


def test_a_journal_damaged_behind_its_header_fails_with_the_typed_error_on_use(tmp_path):
    data = tmp_path / "data"
    populate(data, pending=False)
    journal = config_for(data).journal_path
    raw = bytearray(journal.read_bytes())
    page = int.from_bytes(raw[16:18], "big")
    raw[page:] = b"\xff" * (len(raw) - page)
    journal.write_bytes(bytes(raw))
    with pytest.raises(JournalCorruptError) as caught:
        memory = LightMem(config_for(data))
        try:
            memory.recent_messages("alice")
        finally:
            memory.close()
    assert caught.value.path == journal


def test_the_lock_file_lives_in_the_data_folder(tmp_path):
    data = tmp_path / "data"
    from langchain_lightmem.folder import LOCK_FILE

    with LightMem(config_for(data)) as memory:
        assert (data / LOCK_FILE).read_text().strip() == str(os.getpid())
        assert memory.folder.mode == "exclusive"


def test_a_lightmem_dropped_without_close_frees_the_folder(tmp_path):
    import gc

    data = tmp_path / "data"
    memory = LightMem(config_for(data))
    memory.worker.close()  # (what close() would also do; the folder is what this test is about)
    del memory
    gc.collect()
    proc = python("LightMem(config).close()", data)
    assert proc.returncode == 0, proc.stderr
