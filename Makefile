# The two set-up commands of the README. `make serve` installs the runtime and starts
# the server on the default model; `make test` installs everything the tests need
# (Debian packages included) and runs the whole suite. CI runs `make test`.
PYTHON ?= python3
PIP = $(PYTHON) -m pip
HOST ?= 0.0.0.0
PORT ?= 8000
APT_PACKAGES = espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts ffmpeg libportaudio2 alsa-utils chromium

.PHONY: serve install test install-test system-packages

install:
	$(PIP) install -r requirements.txt

serve: install
	TRANSCRIBER_HOST=$(HOST) TRANSCRIBER_PORT=$(PORT) $(PYTHON) -m gunicorn -c gunicorn.conf.py server.wsgi:app

system-packages:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

install-test: system-packages
	$(PIP) install -q -r requirements.txt -r training/requirements.txt -r requirements-dev.txt

test: install-test
	$(PYTHON) -m pytest
