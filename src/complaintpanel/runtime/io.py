"""I/O shared by every stage: outputs committed as a set, locks, atomic writes, JSON, hashes.

Every write goes through this module, so that a crash never leaves a half-written file or a
half-replaced set of files behind and two runs with the same inputs give byte-identical outputs.

**A stage's outputs are committed as a set** (:func:`stage_outputs`). Stage folders are shared
(``data/interim/NAME`` holds the ingest and thread stages' files, ``data/processed/NAME`` the
label and panel stages', ``results/NAME`` most reports'), so the unit of commit is *one stage's
files in one folder*, not the folder: a folder rename would carry the other stages' files along
and cannot be done while they are being read. A stage run

1. takes the folder's lock for that stage (:func:`stage_lock`) and removes what a killed run of
   the same stage left: its scratch folder ``.run.STAGE/`` and stray ``.NAME.*.tmp`` files;
2. writes every file into ``FOLDER/.run.STAGE/`` (same disk, so the renames below are atomic);
3. replaces the stage's completion record ``FOLDER/.STAGE.outputs.json`` by one in state
   ``"committing"`` that names the new files (and the previous ones), renames the files into
   place one by one, removes files of the previous set that the new set no longer has, and
   finally writes the record in state ``"complete"`` with each file's size and SHA-256.

At every instant the record is either ``complete`` and describes exactly the files beside it,
or ``committing`` and tells every reader that the set is mixed. A reader of a stage's output
(:func:`verified_input`) refuses a file whose record is not complete or whose files do not
match it, in one line that says which stage to rerun. The record was preferred to a marker
written only on success because its absence cannot tell "interrupted" from "made elsewhere":
files with no record at all (written by hand, by a notebook, by an older version) are read
unchecked, while a run that was killed always leaves a ``committing`` record. The record holds
no timestamps or process ids, so results folders stay byte-identical between runs.

**Locks.** ``FOLDER/.STAGE.lock`` is held with ``flock`` for the whole run and names its
holder (pid, host, start time) for the message a second writer gets. The kernel drops the
``flock`` of a killed process, so a lock file left by a run on this host whose process is gone
is stale and is taken over with a warning; one left by a run on another host (a shared disk,
where the process cannot be checked) is refused with the file to remove. A process re-entering
a lock it holds (the ingest command around :func:`complaintpanel.ingest.ingest`) shares it.

**Test hook.** ``COMPLAINTPANEL_TEST_FAULT`` makes the commit fail on purpose, so that tests can
kill a run at a chosen point: ``kill-after-rename:N`` (SIGKILL after the N-th rename) or
``wait-before-commit:PATH`` (wait until PATH exists before committing). Unset, it costs nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from complaintpanel.errors import PipelineError

if TYPE_CHECKING:  # pandas is imported by the caller that passes a frame
    import pandas as pd

__all__ = [
    "FAULT_ENV",
    "StageOutputs",
    "atomic_path",
    "clean_stale",
    "glob_escape",
    "output_folder",
    "read_json",
    "record_path",
    "remove_if_empty",
    "sha256_file",
    "stage_lock",
    "stage_outputs",
    "verified_input",
    "write_json",
    "write_parquet",
]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds.

    Parameters
    ----------
    path : path-like
        Final destination. Its parent folder is created if needed.

    Yields
    ------
    Path
        Temporary file name in the same folder (so the final rename is atomic).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates 0600 files; give the result the permissions a normal write would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_parquet(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``frame`` to Parquet atomically, without the index, with zstd compression."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False, compression="zstd")
    return Path(path)


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # NumPy scalars
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


# Significant digits kept for floats in JSON results. Multi-threaded linear algebra can change
# the last bits of a result between runs; 12 digits keep every meaningful digit and make two runs
# on the same inputs byte-identical.
JSON_SIGNIFICANT_DIGITS = 12


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.{JSON_SIGNIFICANT_DIGITS}g}") if value == value else value
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    if hasattr(value, "item") and hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0:
        return _rounded(value.item())
    return value


def write_json(obj: Any, path: str | os.PathLike[str]) -> Path | str:
    """Write ``obj`` as indented, key-sorted JSON, atomically on a local disk.

    Floats are written with :data:`JSON_SIGNIFICANT_DIGITS` significant digits, so equal results
    give equal bytes. ``path`` may also be a URL (``s3a://…``, ``gs://…``, ``file://…``), for
    reports of the Spark engine on object storage; it is written through ``pyarrow.fs``.
    """
    text = json.dumps(_rounded(obj), indent=2, sort_keys=True, default=_json_default,
                      allow_nan=True) + "\n"
    if is_url(path):
        from pyarrow import fs

        # pyarrow names S3 "s3://"; Hadoop's connector (Spark) names it "s3a://".
        filesystem, inner = fs.FileSystem.from_uri(re.sub(r"^s3a://", "s3://", str(path)))
        with filesystem.open_output_stream(inner) as stream:
            stream.write(text.encode("utf-8"))
        return str(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def is_url(location: str | os.PathLike[str]) -> bool:
    """Tell whether ``location`` is a URL with a scheme (``s3a://``, ``file://``) or a path."""
    return (isinstance(location, str)
            and re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", location) is not None)


def join_location(base: str | os.PathLike[str], name: str) -> str | Path:
    """Return ``base / name`` for a folder that is either a local path or a URL."""
    if is_url(base):
        return str(base).rstrip("/") + "/" + name
    return Path(base) / name


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file written by :func:`write_json`."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def sha256_file(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks (works for multi-GB inputs)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# A stage's outputs, committed as a set (see the module docstring)
# ---------------------------------------------------------------------------------------------
RECORD_SUFFIX = ".outputs.json"
FAULT_ENV = "COMPLAINTPANEL_TEST_FAULT"
_RECORD_FORMAT = 1


def record_path(folder: str | os.PathLike[str], stage: str) -> Path:
    """Return the completion record of ``stage`` in ``folder`` (``.STAGE.outputs.json``)."""
    return Path(folder) / f".{stage}{RECORD_SUFFIX}"


def _lock_path(folder: Path, stage: str) -> Path:
    return folder / f".{stage}.lock"


def _scratch_path(folder: Path, stage: str) -> Path:
    return folder / f".run.{stage}"


def output_folder(folder: str | os.PathLike[str]) -> bool:
    """Make sure ``folder`` is a folder one can write to, creating it if needed.

    Parameters
    ----------
    folder : path-like

    Returns
    -------
    bool
        Whether the folder was created by this call.

    Raises
    ------
    PipelineError
        When ``folder`` is an existing file, or cannot be created (a parent is a file, no
        permission).
    """
    path = Path(folder)
    if path.is_dir():
        return False
    if path.exists() or path.is_symlink():
        raise PipelineError("is an existing file, not a folder; choose another output folder",
                            file=path)
    try:
        path.mkdir(parents=True)
    except FileExistsError:
        if path.is_dir():  # made by a concurrent run
            return False
        raise PipelineError("cannot create the output folder: a file of that name is in the "
                            "way", file=path) from None
    except OSError as error:
        raise PipelineError(f"cannot create the output folder: {error.strerror}",
                            file=path) from None
    return True


def remove_if_empty(folder: str | os.PathLike[str]) -> None:
    """Remove ``folder`` if it exists and is empty (a folder a failed run created)."""
    with contextlib.suppress(OSError):
        Path(folder).rmdir()


def clean_stale(folder: str | os.PathLike[str], patterns: Iterable[str]) -> list[Path]:
    """Remove what a killed run left in ``folder``: files and folders matching ``patterns``.

    Call it only while holding the lock of the stage the patterns belong to (nothing else may
    be writing them).

    Parameters
    ----------
    folder : path-like
    patterns : iterable of str
        Glob patterns relative to ``folder`` (e.g. ``".run.thread"``, ``".x.ingest-*"``).

    Returns
    -------
    list of Path
        What was removed.
    """
    removed = []
    base = Path(folder)
    for pattern in patterns:
        for path in sorted(base.glob(pattern)):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            removed.append(path)
    return removed


# Locks this process holds: (real folder, stage) → [file descriptor, depth].
_HELD: dict[tuple[str, str], list[int]] = {}


def _holder(fd: int) -> dict[str, Any]:
    """Read the holder record of an open lock file ({} when empty or unreadable)."""
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", errors="replace")
        value = json.loads(text) if text.strip() else {}
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _describe_holder(holder: dict[str, Any]) -> str:
    if not holder:
        return "holder unknown"
    return (f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}, started "
            f"{holder.get('started', '?')}")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _acquire(lock: Path, folder: Path, stage: str) -> int:
    """Take the lock file ``lock`` for this process; return its open descriptor."""
    host = socket.gethostname()
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            flocked = True
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise PipelineError(
                f"another `{stage}` run is writing here ({_describe_holder(holder)}); wait for "
                "it to finish (two runs into one folder would overwrite each other)",
                file=folder) from None
        except OSError:  # a file system without flock: the holder's pid decides below
            flocked = False
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock))
        except FileNotFoundError:
            same = False
        if not same:  # the holder released (removed) it between our open and flock: retry
            os.close(fd)
            continue
        previous = _holder(fd)
        if previous and previous.get("pid") != os.getpid():
            pid = previous.get("pid")
            if previous.get("host") != host:
                os.close(fd)
                raise PipelineError(
                    f"a `{stage}` run on another host holds this folder "
                    f"({_describe_holder(previous)}); if it has ended, remove {lock}",
                    file=folder)
            if not flocked and isinstance(pid, int) and _process_alive(pid):
                os.close(fd)
                raise PipelineError(
                    f"another `{stage}` run is writing here ({_describe_holder(previous)}); "
                    "wait for it to finish", file=folder)
            print(f"{stage}: warning: {folder}: taking over the lock of an interrupted "
                  f"`{stage}` run ({_describe_holder(previous)}; that process is gone)",
                  file=sys.stderr)
        record = {"pid": os.getpid(), "host": host, "stage": stage,
                  "started": datetime.now(UTC).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record, sort_keys=True) + "\n").encode(), 0)
        return fd


@contextlib.contextmanager
def stage_lock(folder: str | os.PathLike[str], stage: str) -> Iterator[Path]:
    """Hold ``FOLDER/.STAGE.lock`` for the duration of the block.

    A second writer of the same stage into the same folder gets a :class:`PipelineError`
    naming the holder (pid, host, start time). A lock left by a killed run on this host is
    taken over with a warning on stderr. The lock file is removed on release. Re-entering a
    lock this process holds is allowed (the outer block releases it).

    Parameters
    ----------
    folder : path-like
        An existing folder.
    stage : str
        The command name (``thread``, ``label``, …).

    Yields
    ------
    Path
        The lock file.
    """
    folder = Path(folder)
    lock = _lock_path(folder, stage)
    key = (os.path.realpath(folder), stage)
    if key in _HELD:
        _HELD[key][1] += 1
        try:
            yield lock
        finally:
            _HELD[key][1] -= 1
        return
    fd = _acquire(lock, folder, stage)
    _HELD[key] = [fd, 1]
    try:
        yield lock
    finally:
        del _HELD[key]
        # Remove the file before letting go of it: a waiting process that opened the old file
        # sees that it is no longer the one at this path and starts over (see _acquire).
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()
        os.close(fd)


def _check_not_being_written(folder: Path, stage: str) -> None:
    lock = _lock_path(folder, stage)
    if (os.path.realpath(folder), stage) in _HELD or not lock.exists():
        return
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        raise PipelineError(f"`{stage}` is writing these files right now "
                            f"({_describe_holder(holder)}); wait for it to finish",
                            file=folder) from None
    except OSError:
        pass
    finally:
        os.close(fd)


def _fault(point: str, renames: int = 0) -> None:
    """Fail on purpose where :data:`FAULT_ENV` says (a test hook; see the module docstring)."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    kind, _, argument = spec.partition(":")
    if point == "rename" and kind == "kill-after-rename" and renames == int(argument):
        os.kill(os.getpid(), signal.SIGKILL)
    if point == "commit" and kind == "wait-before-commit":
        deadline = time.monotonic() + 300
        while not Path(argument).exists() and time.monotonic() < deadline:
            time.sleep(0.02)


def _read_record(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        record = read_json(path)
    except (OSError, ValueError):
        return {"state": "unreadable", "files": {}}
    return record if isinstance(record, dict) else {"state": "unreadable", "files": {}}


def _record_names(record: dict[str, Any] | None) -> set[str]:
    if record is None:
        return set()
    return set(record.get("files") or {}) | set(record.get("previous") or [])


class _Target:
    """One folder a stage writes into: the final folder and its scratch folder."""

    def __init__(self, folder: Path, scratch: Path, created: bool) -> None:
        self.folder = folder
        self.scratch = scratch
        self.created = created


class StageOutputs:
    """The files one stage run writes, collected in scratch folders and committed as a set.

    Made by :func:`stage_outputs`; write each output to :meth:`path` (or into
    :meth:`folder`) instead of its final place.
    """

    def __init__(self, stage: str, folder: str | os.PathLike[str],
                 stale: Iterable[str] = ()) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_-]*", stage):
            raise ValueError(f"stage name {stage!r} must be a lower-case word")
        self.stage = stage
        self.primary = Path(folder)
        self._stale = tuple(stale)
        self._targets: dict[str, _Target] = {}
        self._locks = contextlib.ExitStack()

    def folder(self, final: str | os.PathLike[str] | None = None) -> Path:
        """Scratch folder standing for the final folder ``final`` (default: the stage's folder).

        The first use of a folder creates it if needed, takes the stage's lock there and removes
        what a killed run of the stage left in it.
        """
        final_folder = self.primary if final is None else Path(final)
        key = os.path.abspath(final_folder)
        target = self._targets.get(key)
        if target is None:
            created = output_folder(final_folder)
            self._locks.enter_context(stage_lock(final_folder, self.stage))
            scratch = _scratch_path(final_folder, self.stage)
            previous = _read_record(record_path(final_folder, self.stage))
            patterns = [scratch.name, f".{record_path(final_folder, self.stage).name}.*.tmp"]
            patterns += [f".{glob_escape(name)}.*.tmp" for name in sorted(_record_names(previous))]
            if final_folder == self.primary:
                patterns += self._stale
            clean_stale(final_folder, patterns)
            scratch.mkdir()
            target = self._targets[key] = _Target(final_folder, scratch, created)
        return target.scratch

    def path(self, final: str | os.PathLike[str]) -> Path:
        """Where to write the output whose final path is ``final`` (relative: in the folder)."""
        final_path = Path(final)
        if not final_path.is_absolute() and final_path.parent == Path("."):
            final_path = self.primary / final_path
        if final_path.is_dir():
            raise PipelineError("is an existing folder; give a file name", file=final_path)
        return self.folder(final_path.parent) / final_path.name

    def _commit(self) -> None:
        plans = []
        for target in self._targets.values():
            files = sorted(p for p in target.scratch.iterdir()
                           if p.is_file() and not p.name.startswith("."))
            entries = {p.name: {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
                       for p in files}
            previous = _record_names(_read_record(record_path(target.folder, self.stage)))
            plans.append((target, files, entries, previous))
        _fault("commit")
        for target, _files, entries, previous in plans:
            _write_record(target.folder, self.stage, "committing", entries, previous)
        renames = 0
        for target, files, entries, previous in plans:
            for path in files:
                os.replace(path, target.folder / path.name)
                renames += 1
                _fault("rename", renames)
            for name in sorted(previous - set(entries)):
                with contextlib.suppress(FileNotFoundError):
                    (target.folder / name).unlink()
        for target, _files, entries, _previous in plans:
            _write_record(target.folder, self.stage, "complete", entries)

    def _discard(self) -> None:
        for target in self._targets.values():
            shutil.rmtree(target.scratch, ignore_errors=True)

    def _remove_created_if_empty(self) -> None:
        for target in self._targets.values():
            if target.created:
                remove_if_empty(target.folder)


def glob_escape(name: str) -> str:
    """Escape the glob characters of a file name."""
    return re.sub(r"([*?\[])", r"[\1]", name)


def _write_record(folder: Path, stage: str, state: str, entries: dict[str, dict[str, Any]],
                  previous: set[str] | None = None) -> None:
    record: dict[str, Any] = {"format": _RECORD_FORMAT, "stage": stage, "state": state,
                              "files": entries}
    if previous is not None:
        record["previous"] = sorted(previous)
    write_json(record, record_path(folder, stage))


@contextlib.contextmanager
def stage_outputs(stage: str, folder: str | os.PathLike[str],
                  stale: Iterable[str] = ()) -> Iterator[StageOutputs]:
    """Collect a stage's outputs and commit them as a set when the block succeeds.

    On entry: the folder is created if needed (an existing file there is a
    :class:`PipelineError`), the stage's lock is taken (:func:`stage_lock`) and what a killed
    run of the stage left is removed. Inside: write every output to ``outputs.path(name)`` or
    into ``outputs.folder(other_folder)``. On success the files replace the previous set
    (see the module docstring); on an exception nothing is replaced and the scratch files are
    removed.

    Parameters
    ----------
    stage : str
        The command name, e.g. ``"thread"``.
    folder : path-like
        The stage's output folder.
    stale : iterable of str
        Further glob patterns (relative to ``folder``) of the stage's leftovers to remove.

    Yields
    ------
    StageOutputs
    """
    outputs = StageOutputs(stage, folder, stale)
    failed = True
    try:
        with outputs._locks:
            outputs.folder()
            try:
                yield outputs
                outputs._commit()
                failed = False
            finally:
                outputs._discard()
    finally:
        if failed:
            outputs._remove_created_if_empty()


# Hashes of files already checked in this process: (path, size, mtime) → SHA-256.
_VERIFIED: dict[tuple[str, int, int], str] = {}


def _hash_of(path: Path) -> tuple[int, str] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
    if key not in _VERIFIED:
        _VERIFIED[key] = sha256_file(path)
    return stat.st_size, _VERIFIED[key]


def verified_input(path: str | os.PathLike[str]) -> Path:
    """Check that ``path`` belongs to a complete set of outputs before a stage reads it.

    The completion record of the stage that wrote ``path`` (in the same folder) must be
    ``complete`` and every file it names must have the recorded size and SHA-256. A file that
    no record names (written by hand or by an older version) passes unchecked.

    Parameters
    ----------
    path : path-like
        An input file.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    PipelineError
        One line naming the folder, the stage and what to rerun, when the set was left
        incomplete by an interrupted run, changed afterwards, or is being written right now.
    """
    path = Path(path)
    folder = path.parent
    for record_file in sorted(folder.glob(f".*{RECORD_SUFFIX}")):
        record = _read_record(record_file)
        if record is None:
            continue
        stage = str(record.get("stage") or record_file.name[1:-len(RECORD_SUFFIX)])
        if record.get("state") != "unreadable" and path.name not in _record_names(record):
            continue
        _check_not_being_written(folder, stage)
        files = record.get("files") or {}
        if record.get("state") != "complete":
            names = ", ".join(sorted(_record_names(record))) or "its files"
            raise PipelineError(f"the outputs of `{stage}` ({names}) were left incomplete by "
                                f"an interrupted run; rerun `complaintpanel {stage}`",
                                file=folder)
        for name, entry in sorted(files.items()):
            found = _hash_of(folder / name)
            if found is None or found != (entry.get("bytes"), entry.get("sha256")):
                problem = "is missing" if found is None else "has changed"
                raise PipelineError(
                    f"{name} {problem} since `{stage}` wrote it (an interrupted run or an edit "
                    f"by hand); rerun `complaintpanel {stage}`", file=folder)
    return path
