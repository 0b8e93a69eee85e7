"""The key that signs sessions and Digest nonces: made once, whole, whoever asks first."""

from __future__ import annotations

import multiprocessing

import pytest

from server import config as config_module


def _key(folder: str) -> str:
    return config_module.secret_key({"DATA": folder, "SECRET_KEY": ""})


def test_workers_starting_together_all_get_the_same_whole_key(tmp_path):
    """Before: the first worker created the file and then wrote it, and a worker reading in between ran with ''."""
    for attempt in range(2):
        folder = tmp_path / f"data{attempt}"
        with multiprocessing.get_context("spawn").Pool(4) as pool:
            keys = pool.map(_key, [str(folder)] * 8)
        assert len(set(keys)) == 1 and len(keys[0]) == 64
        assert sorted(p.name for p in folder.iterdir()) == ["secret_key"], "no draft left behind"


def test_a_configured_key_wins_and_no_file_is_written(tmp_path):
    assert config_module.secret_key({"DATA": str(tmp_path), "SECRET_KEY": "configured"}) == "configured"
    assert not (tmp_path / "secret_key").exists()


def test_an_empty_key_file_is_refused_not_used(tmp_path):
    (tmp_path / "secret_key").write_text("")
    with pytest.raises(RuntimeError, match="empty"):
        _key(str(tmp_path))
