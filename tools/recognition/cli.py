"""``vidagent train recognizer``: train an action recogniser from a clip dataset.

Loaded by ``agent.cli`` from the ``vidagent.commands`` entry point ``train``. Progress bars and
one line per epoch go to stderr; the summary (or ``--json``, the checkpoint card) to stdout.
Errors follow ``agent.cli``'s exit codes (2: bad input, one line).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tools.recognition.methods import METHODS


@click.group("train")
def train_group() -> None:
    """Train models that vidagent's tools use."""


@train_group.command("recognizer")
@click.option("--data", type=click.Path(path_type=Path), required=True,
              help="a folder per class of clips (UCF101 layout), or a CSV of video,start_s,end_s,label")
@click.option("--backbone", required=True,
              help="open_clip:ARCH[:TAG] | open_clip:/path | timm:NAME[:pretrained] | lite:efficientnet-lite3")
@click.option("--method", required=True, help=f"one of: {', '.join(METHODS)}")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="checkpoint folder to write")
@click.option("--frames", type=click.IntRange(1, 64), default=8, show_default=True, help="frames per clip")
@click.option("--epochs", type=click.IntRange(min=1), default=40, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None,
              help="peak learning rate (default 3e-3 for frozen features and adapters, 1e-3 otherwise)")
@click.option("--schedule", type=click.Choice(["cosine", "constant"]), default="cosine", show_default=True,
              help="cosine: the rate falls from --lr to 0 over --epochs")
@click.option("--weight-decay", type=click.FloatRange(min=0), default=0.05, show_default=True, help="AdamW weight decay")
@click.option("--label-smoothing", type=click.FloatRange(0, 1, max_open=True), default=0.1, show_default=True,
              help="of the training loss")
@click.option("--val-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.2, show_default=True,
              help="share of each class for validation (early stopping, best epoch)")
@click.option("--test-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.2,
              show_default=True, help="share of each class held out as the test set the card reports")
@click.option("--patience", type=click.IntRange(min=1), default=12, show_default=True,
              help="stop after this many epochs without a better validation top-1")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None, help="where frozen features are cached")
@click.option("--resume", is_flag=True, help="continue the run in --out from its last finished epoch")
@click.option("--json", "as_json", is_flag=True, help="print the checkpoint card as JSON")
def train_recognizer_command(data: Path, backbone: str, method: str, out: Path, frames: int, epochs: int,
                             batch_size: int, lr: float | None, schedule: str, weight_decay: float,
                             label_smoothing: float, val_fraction: float, test_fraction: float,
                             patience: int, seed: int, cache_dir: Path | None, resume: bool, as_json: bool) -> None:
    """Train a recogniser of the labels in DATA and save it to OUT (after every epoch)."""
    from tools.recognition.training import TrainConfig, train_recognizer

    config = TrainConfig(data=data, backbone=backbone, method=method, out=out, frames=frames, epochs=epochs,
                         batch_size=batch_size, lr=lr, schedule=schedule, weight_decay=weight_decay,
                         label_smoothing=label_smoothing, val_fraction=val_fraction, test_fraction=test_fraction,
                         patience=patience, seed=seed, cache_dir=cache_dir, resume=resume)
    card = train_recognizer(config, track=_track, say=lambda line: click.echo(line, err=True))
    if as_json:
        click.echo(card.model_dump_json(indent=2))
        return
    m = card.metrics
    click.echo(f"saved {out}: {card.method} on {card.backbone}, {len(card.labels)} labels, "
               f"{card.trainable_params:,} trainable of {card.total_params:,} parameters, "
               f"{card.epochs_done} epochs (best {card.best_epoch}) in {card.train_seconds:.1f} s")
    if m is not None:
        v = card.val_metrics
        click.echo(f"held-out test ({m.n_clips} clips): top-1 {m.top1:.1%}, top-5 {m.top5:.1%} "
                   f"(validation, {v.n_clips} clips: top-1 {v.top1:.1%})")
        width = max(len(label) for label in card.labels)
        click.echo(f"{'confusion (row: true, column: predicted)':<{width}}")
        for label, row in zip(card.labels, m.confusion):
            click.echo(f"  {label:<{width}}  " + " ".join(f"{n:3d}" for n in row))


def _track(items, description: str, total: int):
    """A progress bar on stderr when it is a terminal."""
    if not sys.stderr.isatty():
        return items
    from rich.console import Console
    from rich.progress import track

    return track(items, description=description, total=total, console=Console(stderr=True), transient=True)
