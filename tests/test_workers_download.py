"""``data.download: true``: torchvision's own ``download=True`` fetches missing files into
``data.dir`` before any data is read (no network in tests: torchvision's download method is
replaced by one that writes tiny real IDX files, or fails like an offline machine)."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest
import torch
from torchvision import datasets as tv
from workers_datafiles import write_mnist_like

from evo.config.schema import parse_config
from evo.runner.preflight import preflight
from workers import MissingDataError, check_data
from workers.tasks.datasets import clear_cache, load_classification


@pytest.fixture
def fake_download(monkeypatch) -> list[str]:
    """MNIST.download writes tiny IDX files under its root; returns the roots it was called with."""
    calls: list[str] = []

    def download(self) -> None:
        calls.append(self.root)
        write_mnist_like(Path(self.root), "MNIST", n_train=60, n_test=20)

    monkeypatch.setattr(tv.MNIST, "download", download)
    return calls


def test_download_fetches_missing_files_then_the_task_loads(tmp_path, fake_download) -> None:
    with pytest.raises(MissingDataError, match="download it with"):
        check_data(["mnist"], str(tmp_path))  # without download: missing files are an error
    assert not fake_download
    check_data(["mnist", "digits"], str(tmp_path), download=True)
    assert set(fake_download) == {str(tmp_path)}  # torchvision's download, into data.dir
    calls = len(fake_download)
    clear_cache()
    data = load_classification("mnist", tmp_path, "test", torch.device("cpu"))
    assert data.x_eval.shape[0] == 20 and data.x_train.shape[1:] == (1, 28, 28)
    check_data(["mnist"], str(tmp_path), download=True)  # complete: nothing downloads
    assert len(fake_download) == calls


def test_preflight_downloads_when_the_config_says_so(tmp_path, fake_download) -> None:
    base = {"tasks": ["mnist"], "data": {"dir": str(tmp_path)}, "executor": {"kind": "inline"},
            "evaluation": {"device": "cpu"}}  # fmt: skip
    with pytest.raises(MissingDataError):
        preflight(parse_config(base))
    preflight(parse_config({**base, "data": {"dir": str(tmp_path), "download": True}}))
    assert set(fake_download) == {str(tmp_path)}


def test_offline_download_is_one_clear_line(tmp_path, monkeypatch) -> None:
    def offline(self) -> None:
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(tv.MNIST, "download", offline)
    with pytest.raises(MissingDataError) as info:
        check_data(["mnist"], str(tmp_path), download=True)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"could not download mnist into {tmp_path}: [Errno -3] Temporary failure")
    assert "; fetch it on a machine with internet: python -c" in message and "MNIST" in message
