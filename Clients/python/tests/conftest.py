"""Fixtures that run the client against the real daemon.

The binary is ``$LLMREC_BIN`` (default ``<repo>/.build/debug/llmrec``); a missing binary, or one
without ``serve``, fails every daemon test with one clear message. The dataset is prepared once
per test run from the Amazon 2023 fixtures in ``Tests/DatasetsTests/Fixtures``. The real encoder
and LM come from ``scripts/fetch-assets.sh`` under ``$LLMREC_HOME/assets`` (``LLMREC_HOME``
defaulting to ``${XDG_CACHE_HOME:-~/.cache}/llmrec``, as the daemon does); the tests that need
them are skipped, saying which file is missing, where they are not there.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import llmrec_client
from support import REPO, REQUEST_TIMEOUT, SocketDaemon, read_catalog, spawn_stdio

BIN = Path(os.environ.get("LLMREC_BIN", REPO / ".build" / "debug" / "llmrec"))
FIXTURES = REPO / "Tests" / "DatasetsTests" / "Fixtures"
ASSETS = (
    Path(os.environ.get("LLMREC_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "llmrec")
    / "assets"
)


@pytest.fixture(scope="session")
def llmrec_bin() -> Path:
    """The daemon binary, checked to have a ``serve`` command."""
    if not BIN.is_file():
        pytest.fail(f"llmrec binary not found at {BIN}: build it (swift build) or set LLMREC_BIN", pytrace=False)
    help_run = subprocess.run([BIN, "serve", "--help"], capture_output=True, text=True, timeout=60)
    if help_run.returncode != 0 or "llmrec serve" not in help_run.stdout + help_run.stderr:
        pytest.fail(
            f"`{BIN} serve --help` does not describe a serve command (exit {help_run.returncode}):\n"
            f"{help_run.stdout}{help_run.stderr}",
            pytrace=False,
        )
    return BIN


@pytest.fixture(scope="session")
def dataset(llmrec_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prepared dataset made from the Amazon 2023 fixtures."""
    out = tmp_path_factory.mktemp("data") / "amazon2023"
    subprocess.run(
        [
            llmrec_bin, "prepare", "--format", "amazon2023",
            "--reviews", FIXTURES / "amazon2023_reviews.jsonl",
            "--meta", FIXTURES / "amazon2023_meta.jsonl",
            "--out", out, "--quiet",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return out


def _asset(relative: str, fetch: str) -> Path:
    path = ASSETS / relative
    if not path.exists():
        pytest.skip(f"{path} is missing: run scripts/fetch-assets.sh {fetch} (or set LLMREC_HOME)")
    return path


@pytest.fixture(scope="session")
def encoder_dir() -> Path:
    """The all-MiniLM-L6-v2 sentence-transformers directory (``serve --encoder``)."""
    return _asset("minilm-l6-v2/model.safetensors", "minilm").parent


@pytest.fixture(scope="session")
def lm_gguf() -> Path:
    """SmolLM2-135M-Instruct as GGUF (``serve --lm``)."""
    return _asset("smollm2-135m/SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2")


@pytest.fixture(scope="session")
def catalog(dataset: Path) -> dict[int, dict]:
    """The prepared catalog, by dense item id."""
    return read_catalog(dataset)


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A directory with a short path, since Unix socket paths are limited to 107 bytes."""
    with SocketDaemon.short_dir() as path:
        yield path


@pytest.fixture(scope="session")
def socket_daemon(llmrec_bin: Path, dataset: Path) -> Iterator[SocketDaemon]:
    """One ``serve --socket`` daemon shared by the tests that do not stop it."""
    with SocketDaemon.short_dir() as directory:
        daemon = SocketDaemon.start(llmrec_bin, dataset, directory / "llmrec.sock")
        yield daemon
        daemon.stop()


@pytest.fixture(params=["stdio", "socket"])
def transport(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def raw_client(transport: str, llmrec_bin: Path, dataset: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[llmrec_client.Client]:
    """An uninitialized sync client over each transport."""
    if transport == "stdio":
        client = spawn_stdio(llmrec_bin, dataset, tmp_path)
    else:
        client = llmrec_client.connect(request.getfixturevalue("socket_daemon").path, timeout=REQUEST_TIMEOUT)
    with client:
        yield client


@pytest.fixture
def client(raw_client: llmrec_client.Client) -> llmrec_client.Client:
    """An initialized sync client over each transport."""
    raw_client.initialize()
    return raw_client


@pytest.fixture
def open_async(transport: str, llmrec_bin: Path, dataset: Path, request: pytest.FixtureRequest):
    """A coroutine function that opens an uninitialized async client over each transport."""
    socket_path = request.getfixturevalue("socket_daemon").path if transport == "socket" else None

    async def opener() -> llmrec_client.AsyncClient:
        if socket_path is None:
            return await llmrec_client.spawn_async(
                llmrec_bin, ["serve", "--stdio", "--data", str(dataset)], stderr=subprocess.DEVNULL
            )
        return await llmrec_client.connect_async(socket_path)

    return opener
