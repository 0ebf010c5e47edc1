"""The real server as a subprocess on a loopback port, and its memory as the OS sees it.

Production runs gunicorn (``gunicorn -c gunicorn.conf.py server.wsgi:app``),
so that is what the benchmark starts by default; ``python -m server``
(Werkzeug) is the fallback when gunicorn is missing. RSS is read with psutil
from outside, because that is what an out-of-memory killer on a Pi would
count, not what Python thinks it allocated.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests

from bench.common import REPO, python

START_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ServerProcess:
    """A started server: URLs, the process, how long it took to become healthy, its log."""

    kind: str
    url: str
    ws_url: str
    process: subprocess.Popen
    log_path: Path
    command: str
    startup_s: float = float("nan")

    def worker(self) -> psutil.Process:
        """The process that holds the model: gunicorn's (single) worker, or the Werkzeug process itself."""
        parent = psutil.Process(self.process.pid)
        children = parent.children(recursive=True)
        return children[0] if self.kind == "gunicorn" and children else parent

    def rss_mb(self) -> float:
        """Resident memory of the model-holding process, in MB (1e6 bytes)."""
        try:
            return self.worker().memory_info().rss / 1e6
        except psutil.Error:
            return float("nan")

    def tree_rss_mb(self) -> float:
        """RSS of the whole tree (gunicorn master included)."""
        try:
            parent = psutil.Process(self.process.pid)
            return sum(p.memory_info().rss for p in [parent, *parent.children(recursive=True)]) / 1e6
        except psutil.Error:
            return float("nan")

    def metric(self, name: str) -> float | None:
        text = requests.get(f"{self.url}/metrics", timeout=10).text
        for line in text.splitlines():
            if line.split(" ")[0] == name:
                return float(line.rsplit(" ", 1)[1])
        return None

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 30 s: only the process this benchmark started."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_server(models_dir: Path, log_path: Path, kind: str = "gunicorn", max_streams: int = 0,
                 threads: int = 48, extra_env: dict[str, str] | None = None) -> ServerProcess:
    """Start and wait for ``/healthz``; ``startup_s`` is process start to first healthy answer (model load included)."""
    if kind == "gunicorn" and shutil.which("gunicorn") is None and not _has_module("gunicorn"):
        kind = "werkzeug"
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TRANSCRIBER_HOST": "127.0.0.1", "TRANSCRIBER_PORT": str(port),
           "TRANSCRIBER_MODELS_DIR": str(models_dir), "TRANSCRIBER_MAX_STREAMS": str(max_streams),
           "GUNICORN_THREADS": str(threads), **(extra_env or {})}
    if kind == "gunicorn":
        argv = [python(), "-m", "gunicorn", "-c", "gunicorn.conf.py", "server.wsgi:app"]
        command = (f"TRANSCRIBER_MODELS_DIR={models_dir} TRANSCRIBER_MAX_STREAMS={max_streams} "
                   f"GUNICORN_THREADS={threads} gunicorn -c gunicorn.conf.py server.wsgi:app")
    else:
        argv = [python(), "-m", "server", "--host", "127.0.0.1", "--port", str(port), "--models-dir",
                str(models_dir), "--max-streams", str(max_streams)]
        command = f"python -m server --models-dir {models_dir} --max-streams {max_streams}"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = ServerProcess(kind, f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws/transcribe", process,
                           log_path, command)
    deadline = started + START_TIMEOUT_S
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.log_tail()}")
        try:
            if requests.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                server.startup_s = time.perf_counter() - started
                return server
        except requests.RequestException:  # not listening yet, or the worker is still loading the model
            pass
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"server not healthy after {START_TIMEOUT_S:.0f} s:\n{server.log_tail()}")


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


@dataclass
class RssSampler:
    """Samples the server's RSS every ``interval`` seconds in a thread; ``peak`` and the trace are kept."""

    server: ServerProcess
    interval: float = 0.2
    samples: list[tuple[float, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> "RssSampler":
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set():
            self.samples.append((time.monotonic() - started, self.server.rss_mb()))
            self._stop.wait(self.interval)

    @property
    def peak(self) -> float:
        values = [v for _, v in self.samples if v == v]
        return max(values) if values else float("nan")
