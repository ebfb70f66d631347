"""SAM2 through transformers (``Sam2Model``): masks from box prompts, at source resolution.

Checkpoints: a transformers-format folder (``config.json``, weights, processor config), as on the
hub (``facebook/sam2.1-hiera-tiny`` and larger) or written by ``save_pretrained`` after
fine-tuning. The ``sam2`` package's own ``.pt`` checkpoints are not read directly (transformers'
source repository has a converter for the released ones).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from tools.model_loading import ModelSpec, Weights, local_checkpoint, module_bytes

MODEL_NAME = "sam2"


class Sam2:
    """A loaded SAM2 image predictor: ``segment(image, boxes)`` -> one mask per box."""

    def __init__(self, model: Any, processor: Any, device: str, dtype: str):
        self.model, self.processor, self.device, self.dtype = model, processor, device, dtype

    @property
    def nbytes(self) -> int:
        return module_bytes(self.model)

    def segment(self, image: np.ndarray, boxes: Sequence[Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
        """Masks of ``boxes`` ((k, 4) pixel x1 y1 x2 y2) in ``image`` ((H, W, 3) uint8 RGB):
        ((k, H, W) bool, (k,) float32 predicted IoU in [0, 1]), one forward pass for all boxes."""
        import torch

        if not len(boxes):
            return np.zeros((0, *image.shape[:2]), bool), np.zeros(0, np.float32)
        inputs = self.processor(images=np.array(image), input_boxes=[[list(map(float, b)) for b in boxes]],
                                return_tensors="pt")
        dtype = getattr(torch, self.dtype)
        sizes = inputs.pop("original_sizes")
        inputs = {k: (v.to(self.device, dtype) if v.is_floating_point() else v.to(self.device)) for k, v in inputs.items()}
        with torch.inference_mode():
            out = self.model(**inputs, multimask_output=False)
        masks = self.processor.post_process_masks(out.pred_masks.float().cpu(), sizes)[0]  # (k, 1, H, W)
        scores = out.iou_scores.float().cpu().numpy().reshape(-1).clip(0, 1)
        return masks[:, 0].numpy().astype(bool), scores.astype(np.float32)


def load_sam2(weights: Weights, device: str, dtype: str) -> Sam2:
    import torch
    from transformers import Sam2Model, Sam2Processor

    path = local_checkpoint(MODEL_NAME, weights)
    processor = Sam2Processor.from_pretrained(path)
    model = Sam2Model.from_pretrained(path)
    return Sam2(model.to(device=device, dtype=getattr(torch, dtype)).eval(), processor, device, dtype)


SAM2: ModelSpec[Sam2] = ModelSpec(
    name=MODEL_NAME,
    build=load_sam2,
    extra="full",
    weights=Weights.hub("facebook/sam2.1-hiera-tiny"),
    devices=("cpu", "cuda"),
    precisions=("float32", "float16", "bfloat16"),
    batch_size=1,
    memory_bytes=200 * 2**20,
)
