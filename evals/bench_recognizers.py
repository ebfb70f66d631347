"""Benchmark of the recogniser transfer methods on the generated temporal dataset.

    python -m evals.bench_recognizers --backbone open_clip:vidagent-vit-tiny --out runs/bench-rec
    python -m evals.bench_recognizers --backbone lite:efficientnet-lite3 --methods linear,temporal-head --out runs/bench-rec

Writes the dataset (``--clips`` per class of the six order-only classes, seed 0) unless ``--data``
exists, trains each method on it (``tools.recognition.training``), and prints one markdown row
per method: held-out test top-1 and top-5 (clips no training decision saw), the test clips put in
the right time-reversed pair and, of those, the ones given the right order (an order-blind model:
1/2 at most), validation top-1
(the best epoch's, on the clips it was chosen on), test and validation clips, trainable
parameters, epochs, training seconds (from the checkpoint card) and wall seconds of the whole call (decoding, feature
extraction or reading the feature cache, training). Rows are also appended to ``OUT/table.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tools.recognition.methods import METHODS

HEADER = ("| method | backbone | test top-1 | test top-5 | test: pair right | test: order right in the pair "
          "| val top-1 | test / val clips | trainable params | epochs (best) | training s | wall s |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|")


def pair_and_order(labels: list[str], confusion: list[list[int]]) -> tuple[float, float]:
    """From a confusion matrix of the order-only classes: the fraction of clips put in the right
    time-reversed pair, and of those, the fraction given the right order (exact label). A model
    blind to frame order can do no better than 1/2 on the second (so 1/2 top-1 at most)."""
    from tools.recognition.synthetic import CLASSES

    motion = [CLASSES[label][0] for label in labels]
    n = sum(map(sum, confusion))
    in_pair = sum(confusion[i][j] for i in range(len(labels)) for j in range(len(labels)) if motion[i] == motion[j])
    exact = sum(confusion[i][i] for i in range(len(labels)))
    return in_pair / n, (exact / in_pair if in_pair else 0.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", required=True)
    parser.add_argument("--methods", default="linear,temporal-head,side,adapter,lora,prompt,finetune-last-1")
    parser.add_argument("--data", type=Path, default=None, help="dataset folder (default OUT/data, generated)")
    parser.add_argument("--clips", type=int, default=100, help="clips per class when generating")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args(argv)

    import torch

    from tools.recognition.synthetic import write_dataset
    from tools.recognition.training import TrainConfig, train_recognizer

    torch.set_num_threads(args.threads)
    data = args.data or args.out / "data"
    if not data.exists():
        write_dataset(data, clips_per_class=args.clips, seed=0)
    slug = args.backbone.replace(":", "_").replace("/", "_")
    rows = []
    print(HEADER)
    for method in args.methods.split(","):
        if method not in METHODS and not method.startswith("finetune-last-"):
            print(f"unknown method {method}", file=sys.stderr)
            return 2
        out = args.out / f"{slug}-{method}"
        start = time.perf_counter()
        card = train_recognizer(TrainConfig(data=data, backbone=args.backbone, method=method, out=out,
                                            frames=args.frames, epochs=args.epochs,
                                            cache_dir=args.out / "features"))
        wall = time.perf_counter() - start
        m, v = card.metrics, card.val_metrics
        pair, order = pair_and_order(card.labels, m.confusion)
        row = (f"| {method} | {args.backbone} | {m.top1:.1%} | {m.top5:.1%} | {pair:.1%} | {order:.1%} | {v.top1:.1%} "
               f"| {m.n_clips} / {v.n_clips} "
               f"| {card.trainable_params:,} | {card.epochs_done} ({card.best_epoch}) | {card.train_seconds:.1f} "
               f"| {wall:.0f} |")
        print(row, flush=True)
        rows.append(row)
    with (args.out / "table.md").open("a", encoding="utf-8") as fh:
        fh.write("\n".join(rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
