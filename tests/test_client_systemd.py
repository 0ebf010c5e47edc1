"""The systemd units, their settings file and the install script.

``systemd-analyze verify`` checks the units for real (unknown keys, bad
values, missing executables); the executables are found because the install
script is run in ``--stage`` mode with a PREFIX inside the test's temp dir,
and the venv's ``python``/``gunicorn`` are linked to this interpreter's.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SYSTEMD = REPO / "systemd"
UNITS = ("transcriber-server.service", "transcriber-mic.service")


def _stage(tmp_path: Path) -> tuple[Path, Path]:
    prefix = tmp_path / "prefix"
    root = tmp_path / "root"
    out = subprocess.run(["bash", str(SYSTEMD / "install.sh"), "--stage", str(root), "--skip-venv"],
                         env={"PATH": "/usr/bin:/bin:" + str(Path(sys.executable).parent), "PREFIX": str(prefix),
                              "PYTHON": sys.executable}, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return root, prefix


def test_install_script_stages_app_units_and_settings(tmp_path):
    root, prefix = _stage(tmp_path)
    app = root / str(prefix).lstrip("/") / "app"
    assert (app / "client" / "mic.py").is_file() and (app / "requirements.txt").is_file()
    for unit in UNITS:
        text = (root / "etc/systemd/system" / unit).read_text()
        assert "/opt/transcriber" not in text and str(prefix) in text
    env = root / "etc/transcriber/transcriber.env"
    assert env.stat().st_mode & 0o077 == 0  # may hold a token
    env.write_text("# edited by the admin\n")
    _stage(tmp_path)
    assert env.read_text() == "# edited by the admin\n"  # re-running upgrades, never clobbers settings


def test_units_have_the_required_hardening():
    for unit in UNITS:
        text = (SYSTEMD / unit).read_text()
        for line in ("Restart=on-failure", "DynamicUser=yes", "NoNewPrivileges=yes", "ProtectSystem=strict",
                     "PrivateTmp=yes", "ProtectHome=yes", "EnvironmentFile=-/etc/transcriber/transcriber.env"):
            assert line in text.splitlines(), f"{unit}: {line}"
    mic = (SYSTEMD / "transcriber-mic.service").read_text()
    assert "SupplementaryGroups=audio" in mic and "DeviceAllow=char-alsa rw" in mic
    server = (SYSTEMD / "transcriber-server.service").read_text()
    assert "gunicorn --config /opt/transcriber/app/gunicorn.conf.py server.wsgi:app" in server
    assert (REPO / "gunicorn.conf.py").is_file()


def test_example_mic_arguments_parse():
    from client.mic import build_parser

    lines = [line.lstrip("# ") for line in (SYSTEMD / "transcriber.env").read_text().splitlines()
             if line.lstrip("# ").startswith("TRANSCRIBER_MIC_ARGS=")]
    assert len(lines) >= 2
    for line in lines:
        args = build_parser().parse_args(shlex.split(line.split("=", 1)[1]))
        assert args.server or args.local


def test_example_server_settings_parse_when_uncommented():
    """systemd keeps an inline comment as part of the value, so every example must be a bare value."""
    from server.config import config_from_env

    text = (SYSTEMD / "transcriber.env").read_text()
    server_part = text.split("# --- server", 1)[1].split("# --- microphone", 1)[0]
    settings = dict(line.lstrip("# ").split("=", 1) for line in server_part.splitlines()
                    if line.lstrip("# ").startswith(("TRANSCRIBER_", "GUNICORN_")))
    assert "TRANSCRIBER_VAD_MODE" in settings
    config = config_from_env({k: v for k, v in settings.items() if k.startswith("TRANSCRIBER_")})
    assert config.vad_mode == int(settings["TRANSCRIBER_VAD_MODE"]) and config.port == int(settings["TRANSCRIBER_PORT"])
    assert all(value.strip().isdigit() for key, value in settings.items() if key.startswith("GUNICORN_"))


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed (apt: systemd)")
def test_units_pass_systemd_analyze_verify(tmp_path):
    root, prefix = _stage(tmp_path)
    bin_dir = prefix / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to(sys.executable)
    gunicorn = shutil.which("gunicorn") or str(Path(sys.executable).parent / "gunicorn")
    (bin_dir / "gunicorn").symlink_to(gunicorn)
    (prefix / "app").mkdir(parents=True, exist_ok=True)
    units = [str(root / "etc/systemd/system" / u) for u in UNITS]
    out = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True, timeout=120)
    problems = [line for line in (out.stdout + out.stderr).splitlines() if "transcriber-" in line]
    assert out.returncode == 0 and not problems, out.stdout + out.stderr
