"""Shared harness for the browser tests: headless Debian Chromium driven by Playwright.

The server is the real ``python -m server`` subprocess (``test_server_support``);
the browser is the real ``/usr/bin/chromium`` with Chromium's fake microphone fed
from a speech WAV. Nothing in the page is stubbed. Every page is watched for
uncaught exceptions, console errors and failed requests, and is served with a
strict Content-Security-Policy (the server's own, or one the test adds if the server
sends none), so inline script or style in the page would show up as a console error.

Screenshots go to ``$TRANSCRIBER_WEB_SCREENSHOTS`` (``docs/screenshots`` to refresh
the ones in the docs) or to a temporary folder.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
import requests
import soundfile as sf
import urllib3

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("TRANSCRIBER_CHROMIUM", "/usr/bin/chromium"))
# Local Network Access checks would block the page's loopback WebSocket when the test serves
# the page through Playwright's interception (to add a CSP on a server without one).
BASE_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-features=LocalNetworkAccessChecks"]
FAKE_MIC_ARGS = ["--use-fake-device-for-media-stream"]
FAKE_UI_ARGS = ["--use-fake-ui-for-media-stream"]  # answers the permission prompt with "allow"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
MIC_RATE = 48000  # what a real microphone delivers; the page's worklet resamples it to 16 kHz
MIC_SPEECH = "misc_fixtures/deepspeech_LDC93S1.wav"  # 2.9 s of speech: a final within seconds


def content_security_policy(host: str) -> str:
    """Only our own assets and sockets, as the server sends it when issue 8's headers are on."""
    return ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
            f"media-src 'self' blob:; connect-src 'self' ws://{host}; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'")


def sync_playwright():
    """Playwright, or a skip that says how to get it (``make test`` installs both)."""
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    return api.sync_playwright()


def expect(target):
    """Playwright's ``expect`` (imported late so a missing Playwright skips instead of failing collection)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def launch(playwright, *extra: str):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=[*BASE_ARGS, *extra])


def fake_mic_wav(dev_speech: Path, out: Path) -> Path:
    """A 48 kHz 16-bit mono WAV Chromium's fake capture accepts: 0.5 s silence, speech, 2.5 s silence.

    Chromium loops the file, so the "speaker" pauses (the VAD closes a segment and a
    final arrives) and then speaks again, like someone dictating.
    """
    from scipy.signal import resample_poly

    source = dev_speech / MIC_SPEECH
    if not source.is_file():
        pytest.skip(f"{source} missing")
    samples, rate = sf.read(str(source), dtype="float32", always_2d=True)
    speech = resample_poly(samples[:, 0], MIC_RATE, rate).astype(np.float32)
    silence = np.zeros(MIC_RATE // 2, dtype=np.float32)
    audio = np.concatenate([silence, speech, np.zeros(int(MIC_RATE * 2.5), dtype=np.float32)])
    sf.write(str(out), audio, MIC_RATE, subtype="PCM_16")
    return out


def screenshot_dir(tmp_path_factory) -> Path:
    wanted = os.environ.get("TRANSCRIBER_WEB_SCREENSHOTS")
    folder = Path(wanted) if wanted else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class PageWatch:
    """Everything that went wrong in a page: exceptions, console errors, failed requests, foreign hosts."""

    origin: str
    problems: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    allowed_console: tuple[str, ...] = ()

    def attach(self, page) -> None:
        page.on("pageerror", lambda error: self.problems.append(f"pageerror: {error}"))
        page.on("console", self._console)
        page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url} {r.failure}"))
        page.on("request", self._request)

    def _console(self, message) -> None:
        if message.type == "error" and not any(text in message.text for text in self.allowed_console):
            self.problems.append(f"console.error: {message.text}")

    def _request(self, request) -> None:
        url = request.url
        if not url.startswith((self.origin, self.origin.replace("http", "ws", 1), "blob:", "data:")):
            self.foreign.append(url)

    def check(self) -> None:
        assert not self.problems, "\n".join(self.problems)
        assert not self.foreign, f"requests outside the server: {self.foreign}"


def open_page(context, url: str, allowed_console: tuple[str, ...] = ()):
    """A new tab on ``url`` with the strict CSP added and a watch attached; waits for the model list."""
    page = context.new_page()
    watch = PageWatch(url, allowed_console=allowed_console)
    watch.attach(page)
    host = url.split("//", 1)[1]
    own = requests.get(url + "/", timeout=10, verify=False).headers.get("Content-Security-Policy")
    if own:  # the server's own policy (issue 8) must be strict for the test to mean anything
        assert "script-src 'self'" in own and "unsafe-inline" not in own, own
    else:
        def add_csp(route):
            response = route.fetch()
            route.fulfill(response=response, headers={**response.headers,
                                                      "content-security-policy": content_security_policy(host)})

        page.route(f"{url}/", add_csp)
    page.goto(url + "/")
    return page, watch


def wait_models(page) -> None:
    page.wait_for_selector("body[data-models]")


def lan_address() -> str | None:
    """This machine's address on its network (not loopback), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("198.51.100.1", 9))  # UDP: nothing is sent, this only picks the outgoing interface
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=localhost"], check=True, capture_output=True)
    return cert, key


def server_flags() -> str:
    return subprocess.run([sys.executable, "-m", "server", "--help"], cwd=REPO, capture_output=True,
                          text=True).stdout


@contextmanager
def server_at(models_dir: Path, log_path: Path, url: str, *extra: str):
    """``python -m server`` reached at ``url`` (another host than 127.0.0.1, or https); stopped on exit.

    ``test_server_support.start_server`` only speaks http on 127.0.0.1, which these tests must avoid.
    """
    if not (models_dir / "model.json").is_file():
        pytest.skip(f"no model in {models_dir} (set TRANSCRIBER_TEST_MODELS_DIR)")
    parts = urlsplit(url)
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)  # our own self-signed test certificate
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "server", "--host", parts.hostname, "--port", str(parts.port),
             "--models-dir", str(models_dir), *extra],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                if requests.get(f"{url}/healthz", timeout=2, verify=False).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
    assert "Traceback" not in log_path.read_text()


# ---- fixtures shared by the test_web_* modules (imported there by name) ----

@pytest.fixture(scope="module")  # module, not session: each test_web_* module imports its own copy
def playwright():
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def web_server(models_dir, tmp_path_factory):
    from test_server_support import start_server, stop_server

    server = start_server(models_dir, tmp_path_factory.mktemp("web") / "server.log")
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def mic_wav(dev_speech, tmp_path_factory) -> Path:
    return fake_mic_wav(dev_speech, tmp_path_factory.mktemp("mic") / "mic.wav")


@pytest.fixture(scope="module")
def browser(playwright, mic_wav):
    """Chromium with a fake microphone that plays ``mic_wav`` and a permission prompt that says yes."""
    browser = launch(playwright, *FAKE_UI_ARGS, *FAKE_MIC_ARGS, f"--use-file-for-fake-audio-capture={mic_wav}")
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def shots(tmp_path_factory) -> Path:
    return screenshot_dir(tmp_path_factory)
