"""`make lab`, headless: JupyterLab starts on analysis/, pairs the twins and runs a notebook.

The test runs the real ``make lab`` with ``LAB_ARGS`` for a headless server on a free port and
``KERNEL_PREFIX`` in a temporary folder (so the kernelspec it registers does not touch the
venv), then talks to the server over its REST API and a kernel websocket, as JupyterLab does:

* the server lists the four notebooks of ``analysis/``, and lists each ``.py`` twin as a
  notebook too (jupytext's contents manager: opening either file edits the pair);
* the kernelspec ``make lab`` registered is offered under its display name;
* ``04_your_own_data`` executes cell by cell in a session on that kernel, started by the
  server in the notebook's folder.

A second test drives jupytext's contents manager (the one the server uses) on a copy of a
pair: an edit of the ``.py`` shows in the ``.ipynb`` when it is opened, and saving the notebook
writes both files.

JupyterLab comes with the ``lab`` extra, which ``make`` installs with ``dev``; where it is
missing the test skips with the reason, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jupytext
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = ("01_data", "02_reduced_form", "03_structural", "04_your_own_data")
EXECUTED = "04_your_own_data"
KERNEL, KERNEL_DISPLAY = "complaintpanel", "complaintpanel (.venv)"
STARTUP_SECONDS = 120


def _require_lab(venv: bool = True) -> None:
    if venv and Path(sys.prefix).resolve() != (REPO / ".venv").resolve():
        pytest.skip(f"`make lab` runs the project's .venv; these tests run in {sys.prefix}")
    missing = [m for m in ("jupyterlab", "jupytext", "ipykernel")
               if importlib.util.find_spec(m) is None]
    if not missing:
        return
    reason = (f"{', '.join(missing)} not installed: `make lab` installs the `lab` extra "
              "(or `.venv/bin/pip install -e '.[lab]'`)")
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true: {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """Requests to a running Jupyter server."""

    def __init__(self, port: int, token: str) -> None:
        self.base, self.token = f"http://127.0.0.1:{port}", token

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.base}{path}", data=data, method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
        return json.loads(text) if text else None

    def wait_until_up(self, process: subprocess.Popen[bytes], log: Path) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"`make lab` exited with {process.returncode}:\n"
                            f"{log.read_text()[-3000:]}")
            try:
                self.request("GET", "/api/status")
                return
            except OSError:
                time.sleep(0.5)
        pytest.fail(f"JupyterLab did not answer within {STARTUP_SECONDS} s:\n"
                    f"{log.read_text()[-3000:]}")


def _message(session: str, code: str) -> dict[str, Any]:
    return {"header": {"msg_id": uuid.uuid4().hex, "username": "test", "session": session,
                       "msg_type": "execute_request", "version": "5.3",
                       "date": datetime.now(UTC).isoformat()},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}


async def _execute_cells(url: str, cells: list[str]) -> tuple[list[str], list[str]]:
    """Run ``cells`` in order on the kernel at websocket ``url``: (statuses, stream texts)."""
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    connection = await websocket_connect(HTTPRequest(url))
    session, statuses, streams = uuid.uuid4().hex, [], []
    try:
        for code in cells:
            message = _message(session, code)
            await connection.write_message(json.dumps(message))
            replied = idle = False
            while not (replied and idle):
                raw = await asyncio.wait_for(connection.read_message(), timeout=300)
                assert raw is not None, "the kernel's websocket closed"
                reply = json.loads(raw)
                if reply["parent_header"].get("msg_id") != message["header"]["msg_id"]:
                    continue
                kind = reply["msg_type"]
                if kind == "stream":
                    streams.append(reply["content"]["text"])
                elif kind == "error":
                    streams.append("\n".join(reply["content"]["traceback"]))
                elif kind == "execute_reply":
                    statuses.append(reply["content"]["status"])
                    replied = True
                elif kind == "status" and reply["content"]["execution_state"] == "idle":
                    idle = True
    finally:
        connection.close()
    return statuses, streams


@pytest.mark.lab
def test_make_lab_serves_the_notebooks_and_runs_one_on_its_kernel(tmp_path: Path) -> None:
    _require_lab()
    port, token = _free_port(), uuid.uuid4().hex
    jupyter = tmp_path / "jupyter"
    jupyter.mkdir()
    env = {**os.environ,
           # the kernelspec make lab registers (KERNEL_PREFIX) is found here; no user config
           "JUPYTER_PATH": str(tmp_path / "kernel" / "share" / "jupyter"),
           "JUPYTER_CONFIG_DIR": str(jupyter / "config"),
           "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(jupyter / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(jupyter / "workspaces"),
           "IPYTHONDIR": str(jupyter / "ipython"),
           "COMPLAINTPANEL_NOTEBOOK_DIR": str(tmp_path / "out")}
    lab_args = (f"--no-browser --port={port} --ServerApp.ip=127.0.0.1 "
                f"--IdentityProvider.token={token} --ServerApp.port_retries=0"
                + (" --allow-root" if os.geteuid() == 0 else ""))
    log = tmp_path / "lab.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "lab", f"KERNEL_PREFIX={tmp_path / 'kernel'}",
             f"LAB_ARGS={lab_args}"],
            cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(port, token)
    try:
        server.wait_until_up(process, log)

        listing = {item["name"]: item["type"]
                   for item in server.request("GET", "/api/contents")["content"]}
        for name in NOTEBOOKS:
            assert listing.get(f"{name}.ipynb") == "notebook", listing
            # jupytext's contents manager: the text twin opens as the same notebook
            assert listing.get(f"{name}.py") == "notebook", f"{name}.py is not paired"
        twin = server.request("GET", f"/api/contents/{EXECUTED}.py")["content"]
        paired = jupytext.read(REPO / "analysis" / f"{EXECUTED}.ipynb")
        assert [c["source"] for c in twin["cells"]] == [c.source for c in paired.cells]

        specs = server.request("GET", "/api/kernelspecs")["kernelspecs"]
        assert KERNEL in specs, sorted(specs)
        assert specs[KERNEL]["spec"]["display_name"] == KERNEL_DISPLAY

        notebook = server.request("GET", f"/api/contents/{EXECUTED}.ipynb")["content"]
        assert notebook["metadata"]["kernelspec"]["name"] == KERNEL
        session = server.request("POST", "/api/sessions", {
            "path": f"{EXECUTED}.ipynb", "type": "notebook", "name": EXECUTED,
            "kernel": {"name": KERNEL}})
        assert session["kernel"]["name"] == KERNEL
        url = (f"ws://127.0.0.1:{port}/api/kernels/{session['kernel']['id']}/channels"
               f"?token={token}")
        cells = [c["source"] for c in notebook["cells"] if c["cell_type"] == "code"]
        statuses, streams = asyncio.run(_execute_cells(url, cells))
        assert statuses == ["ok"] * len(cells), "".join(streams)[-3000:]
        assert "rows in = kept + rejected: True" in "".join(streams)
        # the kernel ran in analysis/ (it read config.toml there) and wrote only to its folder
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [EXECUTED]
        server.request("DELETE", f"/api/sessions/{session['id']}")
    finally:
        if process.poll() is None:
            try:
                server.request("POST", "/api/shutdown")
                process.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)


@pytest.mark.lab
def test_editing_either_twin_edits_the_pair(tmp_path: Path) -> None:
    _require_lab(venv=False)
    from jupytext import TextFileContentsManager

    for path in (REPO / "analysis").glob(f"{EXECUTED}.*"):
        shutil.copy(path, tmp_path)
    shutil.copy(REPO / "analysis" / "jupytext.toml", tmp_path)
    manager = TextFileContentsManager(root_dir=str(tmp_path))
    twin, notebook = tmp_path / f"{EXECUTED}.py", tmp_path / f"{EXECUTED}.ipynb"
    setting = "RESULTS_DIR = None"

    # an edit of the text twin, newer than the .ipynb, is what the notebook opens with
    os.utime(notebook, (time.time() - 60, time.time() - 60))
    twin.write_text(twin.read_text().replace(setting, f"{setting}  # edited as text"))
    model = manager.get(notebook.name)
    cell = next(c for c in model["content"]["cells"] if c["cell_type"] == "code")
    assert cell["source"].endswith(f"{setting}  # edited as text")

    # saving the notebook (as JupyterLab does) writes both files
    cell["source"] = cell["source"].replace("edited as text", "edited in the notebook")
    manager.save(model, notebook.name)
    assert "edited in the notebook" in twin.read_text()
    assert "edited in the notebook" in notebook.read_text()
    assert manager.get(twin.name)["type"] == "notebook"
