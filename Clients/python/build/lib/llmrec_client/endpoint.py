"""Where the user's shared daemon listens, and starting it on demand (Protocol/spec.md, "The shared
daemon"). Starting is left to ``llmrec start``, which takes the lock that makes clients starting at
once share one daemon."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping


def default_socket_path(environ: Mapping[str, str] = os.environ) -> str:
    """``$XDG_RUNTIME_DIR/llmrec/llmrec.sock``, or ``/tmp/llmrec-UID/llmrec.sock`` without that variable."""
    runtime = environ.get("XDG_RUNTIME_DIR", "")
    directory = runtime + "/llmrec" if runtime.startswith("/") else f"/tmp/llmrec-{os.getuid()}"
    return directory + "/llmrec.sock"


def llmrec_executable(explicit: str | os.PathLike[str] | None = None) -> str:
    """The ``llmrec`` program: ``explicit``, ``$LLMREC_BIN``, or the one on ``PATH``."""
    candidate = os.fspath(explicit) if explicit is not None else os.environ.get("LLMREC_BIN") or shutil.which("llmrec")
    if not candidate:
        raise FileNotFoundError("no llmrec executable: put it on PATH (scripts/install.sh), set LLMREC_BIN or pass llmrec=")
    return candidate


def start_daemon(
    socket_path: str | os.PathLike[str] | None = None,
    *,
    llmrec: str | os.PathLike[str] | None = None,
    config: str | os.PathLike[str] | None = None,
    timeout: float | None = 600,
) -> str:
    """Runs ``llmrec start`` (which starts the daemon when none answers, and waits for it) and
    returns the socket path it prints. Raises :class:`RuntimeError` with the daemon's reason when
    it cannot start."""
    command = [llmrec_executable(llmrec), "start"]
    if socket_path is not None:
        command += ["--socket", os.fspath(socket_path)]
    if config is not None:
        command += ["--config", os.fspath(config)]
    completed = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False)
    if completed.returncode != 0:
        raise RuntimeError(completed.stderr.strip() or f"llmrec start exited with {completed.returncode}")
    return completed.stdout.strip().splitlines()[-1]
