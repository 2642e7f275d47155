"""Small I/O helpers shared by every stage: atomic writes, deterministic JSON, file hashes.

Every stage writes through these so that a crash never leaves a half-written file behind
(write to a temporary name in the same folder, then rename) and so that two runs with the same
inputs give byte-identical outputs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas is imported by the caller that passes a frame
    import pandas as pd

__all__ = ["atomic_path", "read_json", "sha256_file", "write_json", "write_parquet"]


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
