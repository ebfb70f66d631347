"""Run-length encoded masks (tools.masks) and their place in the result cache."""

from __future__ import annotations

import io

import numpy as np
import pytest

from tools.masks import mask_boxes, rle_decode, rle_encode


def disc(h: int, w: int, cx: float, cy: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r**2


@pytest.mark.parametrize("masks", [
    np.zeros((2, 3, 4), bool),
    np.ones((1, 3, 4), bool),
    np.array([[[1, 0, 0], [0, 0, 1]], [[0, 0, 0], [0, 1, 1]]], bool),
    np.zeros((0, 5, 5), bool),
    np.stack([disc(272, 640, 320, 136, 80), disc(272, 640, 0, 0, 50)]),
], ids=["empty", "full", "crafted", "none", "discs"])
def test_rle_round_trips(masks):
    runs, lengths = rle_encode(masks)
    assert runs.dtype == np.uint32 and len(lengths) == len(masks)
    assert np.array_equal(rle_decode(runs, lengths, masks.shape), masks)


def test_rle_runs_start_with_false_pixels():
    runs, lengths = rle_encode(np.array([[[1, 1, 0, 1]]], bool))
    assert runs.tolist() == [0, 2, 1, 1] and lengths.tolist() == [4]
    with pytest.raises(ValueError, match="cover 4 pixels"):
        rle_decode(runs, lengths, (1, 1, 5))


def test_mask_boxes_are_tight_and_empty_masks_give_zero_boxes():
    masks = np.stack([disc(100, 200, 50, 40, 10), np.zeros((100, 200), bool)])
    np.testing.assert_array_equal(mask_boxes(masks), [[40, 30, 61, 51], [0, 0, 0, 0]])


def test_rle_is_smaller_than_bit_packing_for_object_masks():
    masks = np.stack([disc(272, 640, 100 + 40 * i, 136, 30 + 5 * i) for i in range(20)])
    runs, lengths = rle_encode(masks)
    as_rle, as_bits = io.BytesIO(), io.BytesIO()
    np.savez_compressed(as_rle, runs=runs, lengths=lengths)
    np.savez_compressed(as_bits, bits=np.packbits(masks))
    assert len(as_rle.getvalue()) < len(as_bits.getvalue())
