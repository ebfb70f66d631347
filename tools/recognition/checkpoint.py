"""What a trained recogniser saves: a folder with ``recognizer.json`` (the card) and weights.

``recognizer.json`` (:class:`RecognizerCard`) records the backbone reference, the method, the
label set, the frame sampling, the training metrics and history. ``weights.pt`` holds the best
epoch's parameters: the method's own (head, adapters, LoRA, prompts, unfrozen blocks) and, when
the backbone cannot be rebuilt from its reference alone (random initialisation), the backbone's
too. ``last.pt`` holds the last finished epoch's parameters and optimiser state, for
``--resume``. Every file is replaced atomically, so an interrupted run keeps its finished epochs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tools.errors import InputError

CARD = "recognizer.json"
WEIGHTS = "weights.pt"
LAST = "last.pt"
FORMAT = "vidagent-recognizer/1"
SAMPLING = "uniform: n frames at the centres of n equal parts of the clip, resized (squashed) to the input size"


class CheckpointError(InputError):
    """A recogniser checkpoint is missing, unreadable or does not fit what it is used with."""


class EpochRecord(BaseModel):
    """One finished epoch: mean training loss, validation loss and top-1 (0-1), seconds taken."""

    epoch: int
    train_loss: float
    val_loss: float
    val_top1: float
    seconds: float


class Metrics(BaseModel):
    """Scores of the best epoch on one part of the data (top-1 and top-5 as 0-1 fractions).
    ``confusion[i][j]``: clips of label i predicted as j."""

    top1: float
    top5: float
    n_clips: int
    confusion: list[list[int]]


class RecognizerCard(BaseModel):
    """Everything needed to rebuild and trust a recogniser (``recognizer.json``)."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["vidagent-recognizer/1"] = FORMAT
    backbone: str = Field(description="backbone reference, e.g. open_clip:ViT-B-32:laion2b_s34b_b79k")
    backbone_saved: bool = Field(description="the backbone's weights are in weights.pt (random initialisation)")
    method: str
    labels: list[str]
    frames: int = Field(description="frames per clip")
    input_size: int = Field(description="frames are resized to input_size x input_size pixels")
    sampling: str = SAMPLING
    clip_seconds: float = Field(description="median duration of the training clips: the sliding-window length")
    data: str = Field(description="the training dataset's path")
    n_train: int
    n_val: int = Field(description="validation clips: early stopping and the best epoch are chosen on them")
    n_test: int = Field(default=0, description="held-out test clips: never seen in training or selection")
    split: dict[str, list[str]] = Field(
        default_factory=dict, description="the clips of each part ('train', 'val', 'test'), relative to the data")
    trainable_params: int
    total_params: int
    epochs_done: int = 0
    best_epoch: int = 0
    train_seconds: float = 0.0
    feature_cache: bool = Field(description="frozen features were computed once per clip and cached")
    metrics: Metrics | None = Field(default=None, description="the best epoch on the held-out test clips")
    val_metrics: Metrics | None = Field(default=None, description="the best epoch on the validation clips")
    history: list[EpochRecord] = Field(default_factory=list)
    options: dict[str, Any] = Field(default_factory=dict)


def atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)`` then rename the result over ``path``."""
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def save_card(folder: Path, card: RecognizerCard) -> None:
    atomic_write(folder / CARD, lambda p: p.write_text(card.model_dump_json(indent=2), encoding="utf-8"))


def save_tensors(path: Path, obj: Any) -> None:
    import torch

    atomic_write(path, lambda p: torch.save(obj, p))


def read_card(folder: str | Path) -> RecognizerCard:
    """The card of the checkpoint ``folder`` (a ``recognizer.json`` path also works)."""
    folder = Path(folder).expanduser()
    path = folder if folder.name == CARD else folder / CARD
    if not path.is_file():
        raise CheckpointError(f"{folder}: not a recogniser checkpoint (no {CARD}); train one with "
                              "vidagent train recognizer")
    try:
        return RecognizerCard.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, ValidationError) as exc:
        raise CheckpointError(f"{path}: unreadable recogniser card ({str(exc).splitlines()[0]})") from None


def state_to_save(model, backbone_saved: bool) -> dict:
    """The parameters a checkpoint keeps: every trainable one, and the frozen backbone's too when
    ``backbone_saved``."""
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    return {k: v.detach().clone() for k, v in model.state_dict().items()
            if backbone_saved or not k.startswith("backbone.") or k in trainable}


def load_state(model, state: dict, where: str) -> None:
    """Load a saved state into a freshly built model: every saved key must fit, and every key
    left out must be a frozen backbone weight rebuilt from the reference."""
    result = model.load_state_dict(state, strict=False)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    bad = list(result.unexpected_keys) + [k for k in result.missing_keys if k in trainable or not k.startswith("backbone.")]
    if bad:
        raise CheckpointError(f"{where}: weights do not fit the model its card describes ({', '.join(bad[:3])} ...)")
