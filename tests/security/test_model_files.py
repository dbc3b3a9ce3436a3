"""model/load never opens what is not a regular file, never reads a huge
metadata file, and answers missing paths and files alike."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from mlx_serving.engine.files import (
    MAX_METADATA_BYTES,
    FileRefused,
    check_model_folder,
    read_capped,
)
from runtime_client import RuntimeClient


def _copy(models: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(models / "tiny", folder)
    return folder


@pytest.mark.parametrize("name", ["tokenizer.json", "model.safetensors", "config.json"])
def test_a_fifo_in_the_folder_is_refused_before_it_is_opened(models: Path, tmp_path: Path,
                                                             name: str) -> None:
    folder = _copy(models, tmp_path)
    (folder / name).unlink()
    os.mkfifo(folder / name)
    with pytest.raises(FileRefused, match=f"{name} in it is not a regular file"):
        check_model_folder(folder)


def test_a_link_to_a_device_is_refused(models: Path, tmp_path: Path) -> None:
    folder = _copy(models, tmp_path)
    (folder / "tokenizer.json").unlink()
    (folder / "tokenizer.json").symlink_to("/dev/zero")
    with pytest.raises(FileRefused, match="not a regular file"):
        check_model_folder(folder)


def test_huge_metadata_is_refused_by_its_size_alone(models: Path, tmp_path: Path) -> None:
    folder = _copy(models, tmp_path)
    with open(folder / "config.json", "r+b") as file:  # sparse: nothing is written
        file.truncate(MAX_METADATA_BYTES + 1)
    with pytest.raises(FileRefused, match=f"config.json in it is over the limit of "
                                          f"{MAX_METADATA_BYTES} bytes"):
        check_model_folder(folder)


def test_read_capped_names_the_cap_never_the_size(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"x" * 5000)
    with pytest.raises(FileRefused) as caught:
        read_capped(path, 4096, "a.key")
    assert str(caught.value) == "over the limit of 4096 bytes (a.key)"
    assert read_capped(path, 5000, "a.key") == b"x" * 5000


def test_read_capped_answers_missing_and_special_files_alike(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    messages = set()
    for path in (tmp_path / "missing", tmp_path / "pipe", tmp_path, Path("/dev/zero"),
                 Path("/dev/stdin")):
        with pytest.raises(FileRefused) as caught:
            read_capped(path, 1024, "a.key")
        messages.add(str(caught.value))
    assert len(messages) == 1


@pytest.mark.timeout(120)
def test_load_of_a_folder_with_a_fifo_is_answered_and_sigterm_exits(
        models: Path, tmp_path: Path) -> None:
    folder = _copy(models, tmp_path)
    (folder / "tokenizer.json").unlink()
    os.mkfifo(folder / "tokenizer.json")
    client = RuntimeClient()
    try:
        error = client.error("model/load", {"model": str(folder)})
        assert error["data"]["code"] == "MODEL_LOAD_FAILED"
        assert "tokenizer.json in it is not a regular file" in error["message"]
        assert client.result("model/load", {"model": str(models / "tiny"), "model_id": "ok"})
        client.proc.terminate()
        assert client.wait_exit() == 0
    finally:
        client.stop()
    client.assert_conforms()


def test_missing_paths_and_files_read_the_same(runtime: RuntimeClient, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    answers = []
    for path in (tmp_path / "missing", tmp_path / "file"):
        error = runtime.error("model/load", {"model": str(path)})
        assert error["data"]["code"] == "MODEL_NOT_FOUND"
        answers.append(error["message"].replace(str(path), "PATH"))
    assert answers[0] == answers[1]
