"""Path confinement and box drawing, without a server."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from server.frames import BOX_RGB, Box, draw_jpeg
from server.paths import PathNotAllowed, PathNotFound, child_dir, confined


@pytest.fixture
def roots(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.mp4").write_bytes(b"x")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "b.mp4").write_bytes(b"y")
    (root / "out.mp4").symlink_to(tmp_path / "outside" / "b.mp4")
    (root / "outdir").symlink_to(tmp_path / "outside", target_is_directory=True)
    (root / "in.mp4").symlink_to(root / "sub" / "a.mp4")
    return (root.resolve(),)


@pytest.mark.parametrize("requested", [
    "../outside/b.mp4", "sub/../../outside/b.mp4", "sub/../sub/a.mp4", "..\\outside\\b.mp4", "out.mp4",
    "outdir/b.mp4", "/etc/passwd", "sub/a.mp4\x00", "", "   ",
])
def test_paths_leaving_the_roots_or_naming_dotdot_are_refused(roots, requested, tmp_path):
    with pytest.raises(PathNotAllowed):
        confined(requested, roots)
    with pytest.raises(PathNotAllowed):
        confined(str(tmp_path / "outside" / "b.mp4"), roots)


def test_paths_inside_resolve_to_real_files(roots):
    root = roots[0]
    assert confined("sub/a.mp4", roots) == root / "sub" / "a.mp4"
    assert confined(str(root / "sub" / "a.mp4"), roots) == root / "sub" / "a.mp4"
    assert confined("in.mp4", roots) == root / "sub" / "a.mp4"  # a link that stays inside
    with pytest.raises(PathNotFound):
        confined("sub/none.mp4", roots)
    with pytest.raises(PathNotFound):
        confined("sub", roots)  # a directory is not a video file
    with pytest.raises(PathNotAllowed, match="--video-root"):
        confined("sub/a.mp4", ())


def test_a_name_too_long_for_the_file_system_is_not_found_not_a_crash(roots):
    """pathlib raises ENAMETOOLONG from is_file()/is_dir() instead of answering False (the
    schema fuzzer found the 500 with a path of 1,000 zeros)."""
    with pytest.raises(PathNotFound):
        confined("0" * 1000, roots)
    with pytest.raises(PathNotFound):
        confined("sub/" + "0" * 300 + ".mp4", roots)
    with pytest.raises(PathNotFound):
        child_dir("0" * 1000, roots)


def test_child_dir_takes_one_plain_name_inside(roots):
    assert child_dir("sub", roots) == roots[0] / "sub"
    for name in ("..", ".", "sub/..", "a/b", "", "x\x00"):
        with pytest.raises(PathNotAllowed):
            child_dir(name, roots)
    with pytest.raises(PathNotFound):
        child_dir("outdir", roots)  # leads out


def test_boxes_are_drawn_around_their_region_and_nothing_else_changes():
    rng = np.random.default_rng(0)
    image = (rng.integers(0, 60, size=(120, 200, 3))).astype(np.uint8)  # dark noise: no magenta
    plain = np.asarray(Image.open(io.BytesIO(draw_jpeg(image, [], quality=95)))).astype(int)
    boxed = np.asarray(Image.open(io.BytesIO(draw_jpeg(image, [Box((50, 30, 150, 90), "")], quality=95)))).astype(int)
    magenta = np.abs(boxed - np.array(BOX_RGB)).max(axis=-1) < 70
    ys, xs = np.nonzero(magenta)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == pytest.approx((48, 152, 28, 92), abs=2)
    assert magenta[40:80, 55:145].sum() == 0  # the inside stays as it was
    assert np.abs(boxed[45:75, 60:140] - plain[45:75, 60:140]).mean() < 4
    small = Image.open(io.BytesIO(draw_jpeg(image, [Box((50, 30, 150, 90), "a bike")], max_side=100)))
    assert small.size == (100, 60)
