"""The training loop of ``vidagent train recognizer``.

``train_recognizer(TrainConfig)``: load the clips, split them three ways per class (train;
validation, which early stopping and the choice of the best epoch look at; held-out test, which
nothing looks at during training and which the card reports), build the backbone and the method,
then train with class-balanced sampling, keep the epoch with the best validation top-1 (ties:
lower validation loss), stop early after ``patience`` epochs without improvement, and write the
checkpoint folder after every finished epoch.

Frozen-feature methods read each clip's backbone features from a cache
(``$VIDAGENT_CACHE_DIR/recognizer-features``, else the user cache dir), keyed by the clip's
content, span and frame sampling and by the backbone's reference and weights, so the backbone
runs once per clip and training the head costs seconds on a CPU.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tools.recognition.checkpoint import (
    LAST, WEIGHTS, CheckpointError, EpochRecord, Metrics, RecognizerCard, read_card, save_card, save_tensors,
    state_to_save,
)
from tools.recognition.data import ClipDataset, ClipRecord, DatasetError, load_clips, read_clip

Track = Callable[[Iterable, str, int], Iterable]


class TrainConfig(BaseModel):
    """Options of one training run (the CLI's flags)."""

    model_config = ConfigDict(extra="forbid")

    data: Path
    backbone: str
    method: str
    out: Path
    frames: int = Field(default=8, ge=1, le=64, description="frames per clip")
    epochs: int = Field(default=40, ge=1)
    batch_size: int = Field(default=16, ge=1)
    lr: float | None = Field(default=None, gt=0, description="peak learning rate; default: 3e-3 for frozen features "
                             "and adapters, 1e-3 otherwise (default_lr)")
    schedule: str = Field(default="cosine", pattern="^(cosine|constant)$",
                          description="cosine: the rate falls from lr to 0 over the epochs, step by step")
    weight_decay: float = Field(default=0.05, ge=0, description="AdamW's decoupled weight decay")
    label_smoothing: float = Field(default=0.1, ge=0, lt=1, description="of the training loss (not of validation's)")
    val_fraction: float = Field(default=0.2, gt=0, lt=1, description="share of each class for validation")
    test_fraction: float = Field(default=0.2, gt=0, lt=1, description="share of each class held out as the test set")
    patience: int = Field(default=12, ge=1, description="epochs without a better validation top-1 before stopping")
    seed: int = 0
    cache_dir: Path | None = None
    resume: bool = False


def _no_track(items: Iterable, description: str, total: int) -> Iterable:
    return items


class Split(BaseModel):
    """Sorted clip indices (into ``ClipDataset.clips``) of the three disjoint parts of a dataset."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def stratified_split(targets: np.ndarray, val_fraction: float, test_fraction: float, seed: int,
                     labels: list[str] | None = None) -> Split:
    """Train / validation / test clip indices of (n,) class indices ``targets``: per class, a
    random (``seed``) ``test_fraction`` and ``val_fraction`` of its clips (each at least one,
    rounded), the rest for training (at least one). DatasetError when a class has too few clips."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for c in np.unique(targets):
        idx = rng.permutation(np.nonzero(targets == c)[0])
        n_test = max(1, int(round(test_fraction * len(idx))))
        n_val = max(1, int(round(val_fraction * len(idx))))
        if n_test + n_val >= len(idx):
            name = labels[int(c)] if labels else int(c)
            raise DatasetError(f"class '{name}' has {len(idx)} clips: too few for a training, a validation and a "
                               "test part (give each class at least 3 clips, or lower --val-fraction/--test-fraction)")
        parts["test"] += idx[:n_test].tolist()
        parts["val"] += idx[n_test : n_test + n_val].tolist()
        parts["train"] += idx[n_test + n_val :].tolist()
    return Split(**{k: np.array(sorted(v), dtype=np.int64) for k, v in parts.items()})


def split_names(dataset: ClipDataset, split: Split) -> dict[str, list[str]]:
    """The clips of each part by name relative to the dataset (for the card and for resuming)."""
    root = dataset.source if dataset.layout == "folders" else dataset.source.parent

    def name(clip: ClipRecord) -> str:
        try:
            path = clip.video.relative_to(root).as_posix()
        except ValueError:
            path = str(clip.video)
        return path if clip.start_s is None else f"{path}@{clip.start_s:g}-{clip.end_s:g}"

    return {part: [name(dataset.clips[i]) for i in getattr(split, part)] for part in ("train", "val", "test")}


def feature_cache_dir(cfg: TrainConfig) -> Path:
    if cfg.cache_dir:
        return Path(cfg.cache_dir)
    from tools.cache import cache_root

    return cache_root() / "recognizer-features"


def weights_digest(backbone) -> str:
    """A short hash of the backbone's weights (its reference for the packaged lite model)."""
    if backbone.module is None:
        return backbone.ref
    digest = hashlib.sha256()
    for name, tensor in sorted(backbone.module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def clip_key(clip: ClipRecord, frames: int, size: int, backbone_id: str, what: str) -> str:
    from tools.video import file_sha256

    text = f"{file_sha256(clip.video)}|{clip.start_s}|{clip.end_s}|{frames}|{size}|{backbone_id}|{what}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def clip_seconds(clip: ClipRecord) -> float:
    if clip.start_s is not None:
        return float(clip.end_s - clip.start_s)
    from tools.video import probe

    return probe(clip.video, validate=False).duration_s


def clip_features(dataset: ClipDataset, backbone, frames: int, what: str, cache: Path, track: Track) -> tuple[np.ndarray, int]:
    """(n_clips, T, ...) float32 frozen features of every clip (``what``: ``frame`` features or
    per-block ``layers``), read from ``cache`` or computed and stored there. Also the number of
    clips that had to be computed."""
    cache.mkdir(parents=True, exist_ok=True)
    backbone_id = f"{backbone.ref}|{weights_digest(backbone)}"
    out, computed = [], 0
    for clip in track(dataset.clips, f"{what} features", len(dataset.clips)):
        path = cache / f"{clip_key(clip, frames, backbone.input_size, backbone_id, what)}.npy"
        if path.is_file():
            out.append(np.load(path))
            continue
        images = read_clip(clip, frames, (backbone.input_size, backbone.input_size))
        feats = backbone.layer_features(images) if what == "layers" else backbone.features(images)
        feats = feats.astype(np.float32)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.npy")
        np.save(tmp, feats)
        os.replace(tmp, path)
        out.append(feats)
        computed += 1
    return np.stack(out), computed


def clip_frames(dataset: ClipDataset, backbone, frames: int, track: Track) -> np.ndarray:
    """(n_clips, T, S, S, 3) uint8 decoded frames of every clip."""
    size = (backbone.input_size, backbone.input_size)
    return np.stack([read_clip(c, frames, size) for c in track(dataset.clips, "decoding clips", len(dataset.clips))])


def topk_metrics(logits: np.ndarray, targets: np.ndarray, n_classes: int) -> Metrics:
    """Top-1, top-5 (top-C when fewer classes) and the confusion matrix of (n, C) logits."""
    order = np.argsort(-logits, axis=1)
    k = min(5, n_classes)
    top1 = float(np.mean(order[:, 0] == targets)) if len(targets) else 0.0
    top5 = float(np.mean([t in row[:k] for t, row in zip(targets, order)])) if len(targets) else 0.0
    confusion = np.zeros((n_classes, n_classes), np.int64)
    for t, p in zip(targets, order[:, 0]):
        confusion[t, p] += 1
    return Metrics(top1=top1, top5=top5, n_clips=int(len(targets)), confusion=confusion.tolist())


def train_recognizer(cfg: TrainConfig, track: Track = _no_track, say: Callable[[str], None] = lambda s: None
                     ) -> RecognizerCard:
    """Train and save a recogniser as ``cfg`` says; returns its card (also in ``cfg.out``).

    Raises DatasetError (bad data), ConfigError (unknown backbone or method, or a method the
    backbone cannot take), CheckpointError (``cfg.out`` holds another checkpoint, or ``--resume``
    with a different label set, backbone or method), MissingExtraError (a library not installed).
    """
    import torch

    from tools.recognition.backbones import load_backbone
    from tools.recognition.checkpoint import load_state
    from tools.recognition.methods import build_model, parse_method, trainable_parameters

    method = parse_method(cfg.method)
    dataset = load_clips(cfg.data)
    targets = dataset.targets()
    counts = np.bincount(targets, minlength=len(dataset.labels))
    split = stratified_split(targets, cfg.val_fraction, cfg.test_fraction, cfg.seed, dataset.labels)
    out = Path(cfg.out)
    names = split_names(dataset, split)
    previous = _previous_run(cfg, dataset, out, names)

    torch.manual_seed(cfg.seed)
    backbone = load_backbone(cfg.backbone)
    model = build_model(backbone, method, len(dataset.labels))
    if previous is not None:
        load_state(model, previous["model"], str(out / LAST))
    params = [p for _, p in trainable_parameters(model)]
    lr = cfg.lr or default_lr(method)
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)
    if previous is not None:
        optimizer.load_state_dict(previous["optimizer"])

    train_idx, val_idx, test_idx = split.train, split.val, split.test
    if method.frozen_features:
        what = "layers" if method.kind == "side" else "frame"
        inputs, computed = clip_features(dataset, backbone, cfg.frames, what, feature_cache_dir(cfg), track)
        say(f"features of {len(dataset.clips)} clips: {computed} computed, {len(dataset.clips) - computed} from the cache")
        inputs = torch.from_numpy(inputs)
        forward = model.head
    else:
        frames = clip_frames(dataset, backbone, cfg.frames, track)
        inputs = torch.stack([backbone.to_tensor(clip) for clip in frames])  # (n, T, 3, S, S)
        forward = model
    y = torch.from_numpy(targets)

    card = RecognizerCard(
        backbone=cfg.backbone, backbone_saved=not backbone.reproducible, method=method.name, labels=dataset.labels,
        frames=cfg.frames, input_size=backbone.input_size,
        clip_seconds=float(np.median([clip_seconds(c) for c in dataset.clips])), data=str(cfg.data),
        n_train=len(train_idx), n_val=len(val_idx), n_test=len(test_idx), split=names,
        trainable_params=sum(p.numel() for p in params), total_params=sum(p.numel() for p in model.parameters()),
        feature_cache=method.frozen_features,
        options={"lr": lr, "batch_size": cfg.batch_size, "seed": cfg.seed, "val_fraction": cfg.val_fraction,
                 "test_fraction": cfg.test_fraction, "patience": cfg.patience,
                 "schedule": cfg.schedule, "weight_decay": cfg.weight_decay, "label_smoothing": cfg.label_smoothing,
                 "epochs": cfg.epochs},
    )
    state: dict[str, Any] = {"best_top1": -1.0, "best_loss": float("inf"), "bad_epochs": 0, "best_state": None}
    if previous is not None:
        card = previous["card"]
        state.update({k: previous[k] for k in ("best_top1", "best_loss", "bad_epochs", "best_state")})
    out.mkdir(parents=True, exist_ok=True)

    weights = torch.tensor(1.0 / counts[targets[train_idx]], dtype=torch.double)
    generator = torch.Generator().manual_seed(cfg.seed + card.epochs_done)
    loss_fn = torch.nn.CrossEntropyLoss()
    train_loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    steps_per_epoch = -(-len(train_idx) // cfg.batch_size)
    for epoch in range(card.epochs_done + 1, cfg.epochs + 1):
        if state["bad_epochs"] >= cfg.patience:
            break
        start = time.perf_counter()
        model.train()
        if backbone.module is not None:
            backbone.module.eval()  # frozen statistics and no dropout in the backbone
        order = torch.multinomial(weights, len(train_idx), replacement=True, generator=generator)
        losses = []
        for step, b in enumerate(range(0, len(order), cfg.batch_size)):
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(lr, cfg.schedule, (epoch - 1) * steps_per_epoch + step,
                                            cfg.epochs * steps_per_epoch)
            batch = torch.from_numpy(train_idx)[order[b : b + cfg.batch_size]]
            loss = train_loss_fn(forward(inputs[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.detach().item())
        model.eval()
        val_logits = _predict(forward, inputs[torch.from_numpy(val_idx)], cfg.batch_size)
        val_loss = float(loss_fn(torch.from_numpy(val_logits), y[torch.from_numpy(val_idx)]))
        val_top1 = float(np.mean(val_logits.argmax(1) == targets[val_idx]))
        seconds = time.perf_counter() - start
        card.history.append(EpochRecord(epoch=epoch, train_loss=float(np.mean(losses)), val_loss=val_loss,
                                        val_top1=val_top1, seconds=round(seconds, 3)))
        card.epochs_done, card.train_seconds = epoch, round(card.train_seconds + seconds, 3)
        improved = val_top1 > state["best_top1"] or (val_top1 == state["best_top1"] and val_loss < state["best_loss"])
        if improved:
            state.update(best_top1=val_top1, best_loss=val_loss, bad_epochs=0,
                         best_state=state_to_save(model, card.backbone_saved))
            card.best_epoch = epoch
            card.val_metrics = topk_metrics(val_logits, targets[val_idx], len(dataset.labels))
            test_logits = _predict(forward, inputs[torch.from_numpy(test_idx)], cfg.batch_size)
            card.metrics = topk_metrics(test_logits, targets[test_idx], len(dataset.labels))
            save_tensors(out / WEIGHTS, state["best_state"])
        else:
            state["bad_epochs"] += 1
        save_tensors(out / LAST, {"model": state_to_save(model, card.backbone_saved), "optimizer": optimizer.state_dict(),
                                  **state, "card": card.model_dump()})
        save_card(out, card)
        say(f"epoch {epoch}/{cfg.epochs}: train loss {np.mean(losses):.3f}, val loss {val_loss:.3f}, "
            f"val top-1 {val_top1:.1%}{' (best)' if improved else ''}, {seconds:.1f} s")
    return card


def default_lr(method) -> float:
    """The peak learning rate of a method when ``--lr`` is not given: 3e-3 for heads on frozen
    features and for ST-Adapters, 1e-3 for LoRA, prompts and fine-tuning. (Adapters: chosen on the
    validation split of the generated set, two seeds, mean 97.1% against 95.8% at 1e-3.)"""
    return 3e-3 if method.frozen_features or method.kind == "adapter" else 1e-3


def learning_rate(peak: float, schedule: str, step: int, total_steps: int) -> float:
    """The rate at optimiser ``step`` (0-based) of ``total_steps``: ``peak`` throughout
    (``constant``), or half a cosine from ``peak`` down to 0 (``cosine``)."""
    if schedule == "constant":
        return peak
    return 0.5 * peak * (1 + math.cos(math.pi * min(step, total_steps) / max(total_steps, 1)))


def _predict(forward, inputs, batch_size: int) -> np.ndarray:
    import torch

    with torch.no_grad():
        out = [forward(inputs[i : i + batch_size]) for i in range(0, len(inputs), batch_size)]
    return torch.cat(out).float().numpy()


def _previous_run(cfg: TrainConfig, dataset: ClipDataset, out: Path, split: dict[str, list[str]]) -> dict | None:
    """The last finished epoch's state in ``out`` when resuming (None for a fresh run)."""
    if not (out / "recognizer.json").exists():
        if cfg.resume:
            raise CheckpointError(f"{out}: nothing to resume (no recognizer.json); drop --resume to start a new run")
        return None
    if not cfg.resume:
        raise CheckpointError(f"{out} already holds a recogniser checkpoint; pass --resume to continue it, "
                              "or choose another --out")
    card = read_card(out)
    if card.labels != dataset.labels:
        raise CheckpointError(f"labels of {cfg.data} ({', '.join(dataset.labels)}) do not match checkpoint {out} "
                              f"({', '.join(card.labels)})")
    for what, mine, theirs in (("backbone", cfg.backbone, card.backbone), ("method", cfg.method, card.method),
                               ("frames", cfg.frames, card.frames)):
        if mine != theirs:
            raise CheckpointError(f"checkpoint {out} was trained with {what} {theirs}, not {mine}; resume with the same "
                                  f"{what} or choose another --out")
    if card.split and card.split != split:
        raise CheckpointError(f"{cfg.data} splits into other train/validation/test clips than checkpoint {out} was "
                              "trained on (other clips, --seed or fractions); resume with the same data and options")
    import torch

    previous = torch.load(out / LAST, weights_only=False)
    previous["card"] = RecognizerCard.model_validate(previous["card"])
    return previous
