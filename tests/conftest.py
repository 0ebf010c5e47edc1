"""Shared fixtures: where the repo, the shared data and the models are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("TRANSCRIBER_SHARED_DATA", REPO.parent / "shared" / "data"))
MODELS_DIR = Path(os.environ.get("TRANSCRIBER_TEST_MODELS_DIR", REPO / "models"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def dev_speech(shared_data: Path) -> Path:
    return shared_data / "speech" / "dev"


@pytest.fixture(scope="session")
def models_dir() -> Path:
    return MODELS_DIR


@pytest.fixture(scope="session")
def registry(models_dir: Path):
    from models.registry import ModelRegistry

    return ModelRegistry(models_dir)
