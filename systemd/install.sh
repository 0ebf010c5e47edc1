#!/usr/bin/env bash
# Install the transcriber on a Pi (or any systemd Linux): app + venv under /opt, units, settings.
#
#   sudo systemd/install.sh                 # server + mic client, enabled and started
#   sudo systemd/install.sh --server-only   # or --mic-only
#   sudo systemd/install.sh --no-start      # enable for next boot only
#   systemd/install.sh --stage DIR          # no root: write everything under DIR, touch no system state
#
# Re-running upgrades the app and the venv in place and keeps /etc/transcriber/transcriber.env.
# Variables: PREFIX (default /opt/transcriber), PYTHON (default python3, must be >= 3.11).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
PREFIX="${PREFIX:-/opt/transcriber}"
PYTHON="${PYTHON:-python3}"
units=(transcriber-server.service transcriber-mic.service)
start=1
stage=""
skip_venv=0

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
    case "$1" in
        --server-only) units=(transcriber-server.service) ;;
        --mic-only) units=(transcriber-mic.service) ;;
        --no-start) start=0 ;;
        --stage) stage="${2:?--stage needs a directory}"; shift ;;
        --skip-venv) skip_venv=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

root="${stage:+$(realpath -m "$stage")}"   # every system path below is prefixed with this when staging
app="$root$PREFIX/app"
venv="$root$PREFIX/venv"
etc="$root/etc/transcriber"
unitdir="$root/etc/systemd/system"

if [[ -z "$stage" && $EUID -ne 0 ]]; then
    echo "run as root (sudo), or use --stage DIR to try it out" >&2
    exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "$PYTHON is older than 3.11" >&2
    exit 1
fi

echo "==> app -> $app"
mkdir -p "$app"
# Only what runs: code, models, settings. Training code and tests stay out of /opt.
for part in client server dsp models docs requirements.txt gunicorn.conf.py; do
    if [[ -e "$repo/$part" ]]; then
        rm -rf "${app:?}/$part"
        cp -a "$repo/$part" "$app/$part"
    fi
done
find "$app" -name __pycache__ -prune -exec rm -rf {} +
# Training checkpoints (Keras) are not needed to serve; the .tflite files and model.json are.
find "$app/models" -maxdepth 1 \( -name '*.h5' -o -name '*.keras' \) -delete 2>/dev/null || true
chmod -R u=rwX,go=rX "$app"   # readable by the services' dynamic users, writable by root only

if [[ $skip_venv -eq 0 ]]; then
    echo "==> venv -> $venv"
    [[ -x "$venv/bin/python" ]] || "$PYTHON" -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet -r "$app/requirements.txt"
fi

echo "==> units -> $unitdir"
mkdir -p "$unitdir" "$etc"
for unit in "${units[@]}"; do
    sed "s#/opt/transcriber#$PREFIX#g" "$here/$unit" > "$unitdir/$unit"
    chmod 0644 "$unitdir/$unit"
done
if [[ ! -e "$etc/transcriber.env" ]]; then
    sed "s#/opt/transcriber#$PREFIX#g" "$here/transcriber.env" > "$etc/transcriber.env"
    chmod 0600 "$etc/transcriber.env"   # may hold TRANSCRIBER_TOKEN; systemd reads it as root
    echo "    wrote $etc/transcriber.env (edit TRANSCRIBER_MIC_ARGS: --device, --server or --local)"
else
    echo "    kept existing $etc/transcriber.env"
fi

if [[ -n "$stage" ]]; then
    echo "==> staged under $root; not touching systemd"
    exit 0
fi
systemctl daemon-reload
if [[ $start -eq 1 ]]; then
    systemctl enable --now "${units[@]}"
    systemctl restart "${units[@]}"   # pick up a new app version on re-runs
else
    systemctl enable "${units[@]}"
fi
systemctl --no-pager --lines=5 status "${units[@]}" || true
echo "==> done. Logs: journalctl -u transcriber-mic -u transcriber-server -f"
