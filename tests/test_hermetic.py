"""The suite never sees the user's caches or settings."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest


def _fake_hub_model(hub: Path, repo: str) -> None:
    folder = hub / f"models--{repo.replace('/', '--')}"
    (folder / "snapshots" / "abc123").mkdir(parents=True)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text("abc123")
    (folder / "snapshots" / "abc123" / "config.json").write_text('{"model_type": "gpt2"}')


def test_hf_cache_is_resolved_when_used_not_when_imported(
    tmp_path: Path, isolated_user_dirs: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """huggingface_hub fixes its cache path at import; writer must follow HF_HOME as it is now."""
    import huggingface_hub.constants as constants

    from writer.engine.models import cached_snapshot, list_models

    stale = tmp_path / "cache-fixed-at-import"
    _fake_hub_model(stale, "gpt2")  # as if the user's real cache held gpt2
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(stale))
    assert [m.name for m in list_models() if m.kind == "hub"] == []
    assert cached_snapshot("gpt2") is None

    _fake_hub_model(Path(isolated_user_dirs["HF_HOME"]) / "hub", "distilgpt2")
    assert [m.name for m in list_models() if m.kind == "hub"] == ["distilgpt2"]
    assert cached_snapshot("distilgpt2") is not None


def test_every_location_points_into_temp_dirs(isolated_user_dirs: dict[str, str]) -> None:
    import huggingface_hub.constants as constants

    from writer.paths import config_dir, data_dir, hf_hub_cache

    home = str(Path.home())
    for path in (config_dir(), data_dir(), hf_hub_cache(), Path(constants.HF_HUB_CACHE)):
        assert not str(path).startswith(home + "/."), path
    assert str(hf_hub_cache()) == str(Path(isolated_user_dirs["HF_HOME"]) / "hub")
    assert constants.HF_HUB_CACHE == str(hf_hub_cache())
    assert "huggingface_hub" in sys.modules
