"""Shared pytest fixtures.

``realmedia_file(name)`` gives the path of a real media file cached by tests/realmedia.py and
skips the test when the cache lacks it (fetch with ``bash data_prep/fetch_real_media.sh``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from realmedia import realmedia_path


@pytest.fixture
def realmedia_file():
    """A function ``name -> Path`` of a cached real media file; skips when it is absent."""

    def get(name: str) -> Path:
        path = realmedia_path(name)
        if not path.exists() or path.stat().st_size == 0:
            pytest.skip(f"real media {name} not cached (run: bash data_prep/fetch_real_media.sh)")
        return path

    return get
