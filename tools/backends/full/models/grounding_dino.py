"""Grounding DINO through transformers (``GroundingDinoForObjectDetection``): open-vocabulary
boxes for a list of phrases, in source pixels.

The text prompt is the phrases joined as ``"car. person. red coat."``; each query box gets one
probability per text token. A box is kept when its best token of any phrase reaches
``box_threshold``, and reported once for every phrase one of whose tokens reaches
``text_threshold`` (the official model's two thresholds, mapped onto the phrase list), with that
phrase's best token probability as its confidence. Boxes come out as normalised (cx, cy, w, h)
of the image the processor was given and are turned into pixel (x1, y1, x2, y2) of that image.

Checkpoints: a transformers-format folder (``config.json``, weights, tokenizer and processor
config), as on the hub (``IDEA-Research/grounding-dino-tiny``) or written by ``save_pretrained``
after fine-tuning; or the official ``.pth`` format, converted into the transformers model at load
time (``grounding_dino_official``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tools.model_loading import ModelNotFoundError, ModelSpec, Weights, config_hint, local_checkpoint, module_bytes

MODEL_NAME = "grounding-dino"
DEFAULT_WEIGHTS = Weights.hub("IDEA-Research/grounding-dino-tiny")
BOX_THRESHOLD = 0.35
TEXT_THRESHOLD = 0.25
#: Boxes of one phrase in one frame overlapping more than this are one object (the best kept).
NMS_IOU = 0.7


@dataclass(frozen=True)
class Prompt:
    """The text Grounding DINO reads for ``phrases``; ``spans[j]``: (start, end) characters of phrase j."""

    text: str
    phrases: tuple[str, ...]
    spans: tuple[tuple[int, int], ...]


def build_prompt(phrases: Sequence[str]) -> Prompt:
    """``"car. red coat."`` for ["Car", "red coat."]: lower case, one period after each phrase.

    >>> build_prompt(["Car", "red coat."]).spans
    ((0, 3), (5, 13))
    """
    cleaned = [" ".join(p.lower().strip().rstrip(".").split()) for p in phrases]
    if not all(cleaned):
        raise ValueError("every phrase needs at least one word")
    spans, text = [], ""
    for phrase in cleaned:
        if text:
            text += " "
        spans.append((len(text), len(text) + len(phrase)))
        text += phrase + "."
    return Prompt(text=text, phrases=tuple(cleaned), spans=tuple(spans))


def token_phrases(offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]) -> np.ndarray:
    """(L,) int: the phrase each token belongs to, -1 for special tokens and separators.

    ``offsets``: (start, end) characters of each token (a fast tokenizer's offset mapping;
    special tokens are (0, 0)).
    """
    out = np.full(len(offsets), -1, dtype=np.int64)
    for t, (start, end) in enumerate(offsets):
        if end <= start:
            continue
        for j, (a, b) in enumerate(spans):
            if start >= a and end <= b:
                out[t] = j
                break
    return out


def phrase_scores(token_probs: np.ndarray, token_phrase: np.ndarray, n_phrases: int) -> np.ndarray:
    """(Q, P): for each query box, the best probability among each phrase's tokens.

    ``token_probs``: (Q, L) sigmoid of the model's logits (positions past the prompt ignored);
    ``token_phrase``: (L',) from ``token_phrases`` with L' <= L. A phrase with no token (cut off
    by the text length limit) scores 0.
    """
    probs = token_probs[:, : len(token_phrase)]
    out = np.zeros((len(probs), n_phrases), dtype=np.float32)
    for j in range(n_phrases):
        cols = token_phrase == j
        if cols.any():
            out[:, j] = probs[:, cols].max(axis=1)
    return out


def assign_phrases(scores: np.ndarray, box_threshold: float, text_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(query index, phrase index) of every reported box from (Q, P) ``phrase_scores``: a query
    is kept when its best phrase score reaches ``box_threshold``, and reported for each phrase
    scoring at least ``text_threshold``.

    >>> assign_phrases(np.array([[0.9, 0.3], [0.3, 0.2], [0.4, 0.1]]), 0.35, 0.25)
    (array([0, 0, 2]), array([0, 1, 0]))
    """
    kept = scores.max(axis=1, initial=0.0) >= box_threshold
    q, j = np.nonzero(kept[:, None] & (scores >= text_threshold))
    return q, j


def cxcywh_to_xyxy(boxes: np.ndarray, width: float, height: float) -> np.ndarray:
    """(n, 4) normalised (cx, cy, w, h) -> (n, 4) pixel (x1, y1, x2, y2), clipped to the image.

    >>> cxcywh_to_xyxy(np.array([[0.5, 0.5, 0.5, 0.25]]), 640, 272).tolist()
    [[160.0, 102.0, 480.0, 170.0]]
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    cx, cy, w, h = boxes.T
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1) * [width, height, width, height]
    return np.clip(xyxy, 0, [width, height, width, height]).astype(np.float32)


def nms(xyxy: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression, best first."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    area = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
    while len(order):
        i, rest = order[0], order[1:]
        keep.append(int(i))
        x1 = np.maximum(xyxy[i, 0], xyxy[rest, 0])
        y1 = np.maximum(xyxy[i, 1], xyxy[rest, 1])
        x2 = np.minimum(xyxy[i, 2], xyxy[rest, 2])
        y2 = np.minimum(xyxy[i, 3], xyxy[rest, 3])
        inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
        overlap = inter / np.maximum(area[i] + area[rest] - inter, 1e-9)
        order = rest[overlap <= iou]
    return np.array(keep, dtype=np.int64)


@dataclass(frozen=True)
class PhraseBoxes:
    """Boxes found in one image. ``xyxy``: (n, 4) pixels of that image; ``phrase``: (n,) index
    into the prompt's phrases; ``score``: (n,) in [0, 1]; ``query``: (n,) the model query each came from."""

    xyxy: np.ndarray
    phrase: np.ndarray
    score: np.ndarray
    query: np.ndarray


def boxes_of_image(token_probs: np.ndarray, pred_boxes: np.ndarray, token_phrase: np.ndarray, n_phrases: int,
                   size: tuple[int, int], box_threshold: float, text_threshold: float,
                   nms_iou: float = NMS_IOU) -> PhraseBoxes:
    """The post-processing of one image: (Q, L) token probabilities and (Q, 4) normalised boxes
    -> boxes per phrase in pixels of an image of ``size`` = (width, height), after per-phrase NMS."""
    scores = phrase_scores(token_probs, token_phrase, n_phrases)
    q, j = assign_phrases(scores, box_threshold, text_threshold)
    xyxy = cxcywh_to_xyxy(pred_boxes[q], *size)
    score = scores[q, j]
    keep = []
    for phrase in np.unique(j):
        rows = np.nonzero(j == phrase)[0]
        keep.extend(rows[nms(xyxy[rows], score[rows], nms_iou)])
    keep = np.sort(np.asarray(keep, dtype=np.int64))
    return PhraseBoxes(xyxy=xyxy[keep], phrase=j[keep], score=score[keep].astype(np.float32), query=q[keep])


class GroundingDino:
    """A loaded Grounding DINO: ``detect(images, phrases)`` -> boxes per image, in that image's pixels."""

    def __init__(self, model: Any, processor: Any, device: str, dtype: str):
        self.model, self.processor, self.device, self.dtype = model, processor, device, dtype

    @property
    def nbytes(self) -> int:
        return module_bytes(self.model)

    def token_map(self, prompt: Prompt, input_ids: Sequence[int]) -> np.ndarray:
        """``token_phrases`` of the prompt as this model's tokenizer splits it (checked against
        the ids the processor produced, so the two cannot drift apart)."""
        enc = self.processor.tokenizer(prompt.text, return_offsets_mapping=True)
        if list(enc["input_ids"]) != list(input_ids)[: len(enc["input_ids"])]:
            raise RuntimeError("the tokenizer's offsets do not match the processor's token ids")
        return token_phrases(enc["offset_mapping"], prompt.spans)

    def detect(self, images: Sequence[np.ndarray], phrases: Sequence[str], box_threshold: float = BOX_THRESHOLD,
               text_threshold: float = TEXT_THRESHOLD) -> list[PhraseBoxes]:
        """Boxes of ``phrases`` in each of ``images`` ((H, W, 3) uint8 RGB), one forward pass for all."""
        import torch

        prompt = build_prompt(phrases)
        writable = [np.array(im) for im in images]  # decoded frames are read-only; torch wants to own them
        inputs = self.processor(images=writable, text=[prompt.text] * len(images), return_tensors="pt")
        token_phrase = self.token_map(prompt, inputs["input_ids"][0].tolist())
        dtype = getattr(torch, self.dtype)
        inputs = {k: (v.to(self.device, dtype) if v.is_floating_point() else v.to(self.device)) for k, v in inputs.items()}
        with torch.inference_mode():
            out = self.model(**inputs)
        probs = out.logits.float().sigmoid().cpu().numpy()
        boxes = out.pred_boxes.float().cpu().numpy()
        return [
            boxes_of_image(probs[i], boxes[i], token_phrase, len(prompt.phrases), (img.shape[1], img.shape[0]),
                           box_threshold, text_threshold)
            for i, img in enumerate(images)
        ]


def load_grounding_dino(weights: Weights, device: str, dtype: str) -> GroundingDino:
    """Build from a transformers-format checkpoint folder (a local path, or a hub id resolved
    through the local hub cache), or from an official ``.pth`` file (or a folder holding one and
    no ``config.json``), converted at load time (``grounding_dino_official``)."""
    import torch
    from transformers import AutoProcessor, GroundingDinoForObjectDetection

    path = local_checkpoint(MODEL_NAME, weights)
    official = official_checkpoint(path)
    if official is not None:
        from tools.backends.full.models.grounding_dino_official import load_official

        model, processor = load_official(official), official_processor(official.parent)
    else:
        processor = AutoProcessor.from_pretrained(path)
        model = GroundingDinoForObjectDetection.from_pretrained(path)
    return GroundingDino(model.to(device=device, dtype=getattr(torch, dtype)).eval(), processor, device, dtype)


def official_checkpoint(path: Path) -> Path | None:
    """The official ``.pth``/``.pt`` file ``path`` names or holds (None: a transformers folder)."""
    if path.is_file():
        return path if path.suffix in (".pth", ".pt") else None
    if (path / "config.json").exists():
        return None
    found = sorted([*path.glob("*.pth"), *path.glob("*.pt")])
    if len(found) > 1:
        raise ModelNotFoundError(f"model {MODEL_NAME}: {path} holds several checkpoints ({', '.join(p.name for p in found)}); "
                                 f"name one file: {config_hint(MODEL_NAME)}")
    return found[0] if found else None


def official_processor(folder: Path) -> Any:
    """The processor of an official checkpoint: a tokenizer (and processor config) saved beside it,
    else the default model's processor (the same BERT tokenizer and 800-1333 px resizing) from
    the local hub cache."""
    from transformers import AutoProcessor, AutoTokenizer, GroundingDinoImageProcessor, GroundingDinoProcessor

    if (folder / "processor_config.json").exists() or (folder / "preprocessor_config.json").exists():
        return AutoProcessor.from_pretrained(folder)
    if (folder / "tokenizer.json").exists() or (folder / "vocab.txt").exists():
        return GroundingDinoProcessor(image_processor=GroundingDinoImageProcessor(),
                                      tokenizer=AutoTokenizer.from_pretrained(folder))
    return AutoProcessor.from_pretrained(local_checkpoint(MODEL_NAME, DEFAULT_WEIGHTS))


GROUNDING_DINO: ModelSpec[GroundingDino] = ModelSpec(
    name=MODEL_NAME,
    build=load_grounding_dino,
    extra="full",
    weights=DEFAULT_WEIGHTS,
    devices=("cpu", "cuda"),
    precisions=("float32", "float16", "bfloat16"),
    batch_size=4,
    memory_bytes=700 * 2**20,
)
