"""Safe under crashes: outputs are committed as a set, one writer per folder, no leftovers.

Runs are killed for real (SIGKILL) at chosen points of the commit through the test hook
``COMPLAINTPANEL_TEST_FAULT`` of :mod:`complaintpanel.runtime.io`: the next reader must refuse
the mixed set in one line, and the next run of the stage must clean up and succeed. Two runs
into one folder: the second is refused with the first one's pid, host and start time; a lock
left by a killed run is taken over with a warning.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner, Result

from complaintpanel.cli import app
from complaintpanel.errors import PipelineError
from complaintpanel.runtime.io import (
    FAULT_ENV,
    record_path,
    stage_outputs,
    verified_input,
)

ENV = {"COMPLAINTPANEL_KEY": "crash-safety-test-key-0123"}


def invoke(*args: object) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], env=ENV)


def ok(*args: object) -> Result:
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result


def start(*args: object, fault: str) -> subprocess.Popen[str]:
    """Run ``complaintpanel ARGS`` in a process of its own, with a fault injected."""
    env = {**os.environ, **ENV, FAULT_ENV: fault}
    return subprocess.Popen([sys.executable, "-m", "complaintpanel.cli", *map(str, args)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition: object, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def lock_holder(lock: Path) -> dict[str, object]:
    try:
        text = lock.read_text()
        return json.loads(text) if text.strip() else {}
    except (FileNotFoundError, ValueError):
        return {}


def leftovers(*folders: Path) -> list[str]:
    """Scratch folders, temporary files and locks in ``folders`` (what a killed run leaves)."""
    found = []
    for folder in folders:
        for path in folder.iterdir():
            name = path.name
            if (name.startswith(".run.") or name.endswith(".tmp") or name.endswith(".lock")
                    or ".ingest-" in name or name.startswith(".thread-")):
                found.append(str(path))
    return sorted(found)


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two small simulated worlds (raw TWCS files) that differ."""
    root = tmp_path_factory.mktemp("worlds")
    for name, seed in (("a", 1), ("b", 2)):
        ok("simulate", "--out", root / name, "--customers", "40", "--weeks", "3", "--seed",
           seed, "--no-truth-effects")
    return {name: root / name / "twcs.csv" for name in ("a", "b")}


def test_a_run_killed_between_renames_is_refused_then_cleaned_up(
        worlds: dict[str, Path], tmp_path: Path) -> None:
    interim = tmp_path / "interim" / "x"
    ok("ingest", worlds["a"], "--out", interim)
    old_tweets = (interim / "tweets.parquet").read_bytes()
    # Killed after the second of three renames (files in name order: the report, the
    # rejects, the tweets): the report describes world b, the tweets are still world a's.
    killed = start("ingest", worlds["b"], "--out", interim, fault="kill-after-rename:2")
    killed.communicate(timeout=300)
    assert killed.returncode == -signal.SIGKILL
    report = json.loads((interim / "ingest_report.json").read_text())
    assert report["input"]["path"] == str(worlds["b"])
    assert (interim / "tweets.parquet").read_bytes() == old_tweets
    assert json.loads(record_path(interim, "ingest").read_text())["state"] == "committing"
    assert leftovers(interim, interim.parent)  # lock, scratch folder, ingest's work folder

    # Every reader refuses the mix, in one line, and says what to rerun.
    for args in (["thread", interim], ["describe", interim, "--out", tmp_path / "results"]):
        result = invoke(*args)
        assert result.exit_code == 2, result.output
        assert result.output.strip() == (
            f"{args[0]}: error: {interim}: the outputs of `ingest` (ingest_report.json, "
            "rejects.parquet, tweets.parquet) were left incomplete by an interrupted run; "
            "rerun `complaintpanel ingest`")
    assert not (interim / "exchanges.parquet").exists()
    assert not (tmp_path / "results").exists()

    # The rerun takes over the dead run's lock, removes its leftovers and commits a whole set.
    rerun = ok("ingest", worlds["b"], "--out", interim)
    assert (f"ingest: warning: {interim}: taking over the lock of an interrupted `ingest` run "
            f"(pid {killed.pid} on host {socket.gethostname()}") in rerun.output
    assert leftovers(interim, interim.parent) == []
    clean = tmp_path / "clean" / "x"
    ok("ingest", worlds["b"], "--out", clean)
    for name in ("tweets.parquet", "rejects.parquet"):
        assert (interim / name).read_bytes() == (clean / name).read_bytes(), name
    assert json.loads(record_path(interim, "ingest").read_text())["state"] == "complete"
    ok("thread", interim)


def test_stages_sharing_a_folder_are_committed_apart(worlds: dict[str, Path],
                                                     tmp_path: Path) -> None:
    interim, processed = tmp_path / "interim" / "x", tmp_path / "processed" / "x"
    ok("ingest", worlds["a"], "--out", interim)
    ok("thread", interim)
    ok("label", interim, "--out", processed)
    ok("panel", processed)
    old_report = (processed / "panel_report.json").read_bytes()
    killed = start("panel", processed, "--period", "day", fault="kill-after-rename:1")
    killed.communicate(timeout=300)
    assert killed.returncode == -signal.SIGKILL
    assert (processed / "panel_report.json").read_bytes() == old_report  # still the weekly one
    result = invoke("estimate", processed, "--out", tmp_path / "results")
    assert result.exit_code == 2, result.output
    assert "the outputs of `panel` (panel.parquet, panel_report.json) were left incomplete" \
        in result.output
    # The label stage's files in the same folder are a complete set of their own.
    verified_input(processed / "voiced.parquet")
    ok("panel", processed, "--period", "day")
    assert json.loads((processed / "panel_report.json").read_text())["period"] == "day"
    assert leftovers(processed) == []
    verified_input(processed / "panel.parquet")


def test_two_writers_into_one_folder(worlds: dict[str, Path], tmp_path: Path) -> None:
    interim = tmp_path / "interim" / "x"
    ok("ingest", worlds["a"], "--out", interim)
    ok("thread", interim)
    go = tmp_path / "go"
    first = start("thread", interim, fault=f"wait-before-commit:{go}")
    lock = interim / ".thread.lock"
    try:
        wait_for(lambda: lock_holder(lock).get("pid") == first.pid)
        holder = lock_holder(lock)
        second = invoke("thread", interim)
        assert second.exit_code == 2, second.output
        assert second.output.strip() == (
            f"thread: error: {interim}: another `thread` run is writing here (pid {first.pid} "
            f"on host {socket.gethostname()}, started {holder['started']}); wait for it to "
            "finish (two runs into one folder would overwrite each other)")
        # A reader of the files being replaced waits for the writer too.
        reader = invoke("label", interim, "--out", tmp_path / "processed")
        assert reader.exit_code == 2, reader.output
        assert f"`thread` is writing these files right now (pid {first.pid}" in reader.output
    finally:
        go.touch()
        _out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert not lock.exists()
    ok("label", interim, "--out", tmp_path / "processed")


def test_a_lock_left_by_a_killed_run_is_taken_over(worlds: dict[str, Path],
                                                    tmp_path: Path) -> None:
    interim = tmp_path / "interim" / "x"
    ok("ingest", worlds["a"], "--out", interim)
    stuck = start("thread", interim, fault=f"wait-before-commit:{tmp_path / 'never'}")
    scratch = interim / ".run.thread"
    wait_for(lambda: (scratch / "thread_report.json").exists())  # written, not yet committed
    stuck.kill()
    stuck.communicate(timeout=60)
    assert lock_holder(interim / ".thread.lock")["pid"] == stuck.pid
    assert not (interim / "exchanges.parquet").exists()
    rerun = ok("thread", interim)
    assert (f"thread: warning: {interim}: taking over the lock of an interrupted `thread` run "
            f"(pid {stuck.pid} on host {socket.gethostname()}") in rerun.output
    assert leftovers(interim) == []
    verified_input(interim / "exchanges.parquet")


def test_a_lock_held_on_another_host_is_refused(worlds: dict[str, Path],
                                                tmp_path: Path) -> None:
    interim = tmp_path / "interim" / "x"
    ok("ingest", worlds["a"], "--out", interim)
    lock = interim / ".thread.lock"
    lock.write_text(json.dumps({"pid": 4242, "host": "elsewhere.example", "stage": "thread",
                                "started": "2026-12-01T10:00:00+00:00"}))
    result = invoke("thread", interim)
    assert result.exit_code == 2, result.output
    assert result.output.strip() == (
        f"thread: error: {interim}: a `thread` run on another host holds this folder (pid 4242 "
        "on host elsewhere.example, started 2026-12-01T10:00:00+00:00); if it has ended, "
        f"remove {lock}")
    assert lock.exists()


# ---------------------------------------------------------------------------------------------
# The mechanism itself
# ---------------------------------------------------------------------------------------------
def write(outputs: object, name: str, text: str) -> None:
    outputs.path(name).write_text(text)  # type: ignore[attr-defined]


def test_a_commit_replaces_the_previous_set_and_nothing_else(tmp_path: Path) -> None:
    (tmp_path / "other.txt").write_text("another stage's file")
    with stage_outputs("demo", tmp_path) as outputs:
        write(outputs, "a.txt", "1")
        write(outputs, "b.txt", "2")
    record = record_path(tmp_path, "demo").read_bytes()
    with stage_outputs("demo", tmp_path) as outputs:
        write(outputs, "a.txt", "1")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".demo.outputs.json", "a.txt",
                                                          "other.txt"]
    assert json.loads(record_path(tmp_path, "demo").read_text())["files"] == {
        "a.txt": {"bytes": 1, "sha256": hashlib.sha256(b"1").hexdigest()}}
    # Same files, same record, byte for byte (no times or pids in it).
    with stage_outputs("demo", tmp_path) as outputs:
        write(outputs, "a.txt", "1")
        write(outputs, "b.txt", "2")
    assert record_path(tmp_path, "demo").read_bytes() == record


def test_a_failed_run_changes_nothing(tmp_path: Path) -> None:
    with stage_outputs("demo", tmp_path) as outputs:
        write(outputs, "a.txt", "old")
    record = record_path(tmp_path, "demo").read_bytes()
    with pytest.raises(RuntimeError, match="half way"), stage_outputs("demo", tmp_path) as outputs:
        write(outputs, "a.txt", "new")
        raise RuntimeError("half way")
    assert (tmp_path / "a.txt").read_text() == "old"
    assert record_path(tmp_path, "demo").read_bytes() == record
    assert sorted(p.name for p in tmp_path.iterdir()) == [".demo.outputs.json", "a.txt"]
    fresh = tmp_path / "fresh"
    with pytest.raises(RuntimeError), stage_outputs("demo", fresh) as outputs:
        write(outputs, "a.txt", "new")
        raise RuntimeError("before anything was written")
    assert not fresh.exists()  # the folder it had made is gone again


def test_a_file_changed_after_its_stage_is_refused(tmp_path: Path) -> None:
    with stage_outputs("demo", tmp_path) as outputs:
        pd.DataFrame({"x": [1, 2]}).to_parquet(outputs.path("t.parquet"))
    verified_input(tmp_path / "t.parquet")
    pd.DataFrame({"x": [3]}).to_parquet(tmp_path / "t.parquet")
    with pytest.raises(PipelineError, match=r"t\.parquet has changed since `demo` wrote it"):
        verified_input(tmp_path / "t.parquet")
    (tmp_path / "t.parquet").unlink()
    with pytest.raises(PipelineError, match=r"t\.parquet is missing since `demo` wrote it"):
        verified_input(tmp_path / "t.parquet")
    # A file no record names (made by hand) is read unchecked.
    (tmp_path / "mine.parquet").write_bytes(b"anything")
    assert verified_input(tmp_path / "mine.parquet") == tmp_path / "mine.parquet"
