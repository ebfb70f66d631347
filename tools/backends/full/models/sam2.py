"""SAM2 through transformers: masks from box prompts at source resolution, in one image
(``Sam2Model``) or carried from frame to frame through a video (``Sam2VideoModel``).

Checkpoints: a transformers-format folder (``config.json``, weights, processor config), as on the
hub (``facebook/sam2.1-hiera-tiny`` and larger) or written by ``save_pretrained`` after
fine-tuning. The ``sam2`` package's own ``.pt`` checkpoints are not read directly (transformers'
source repository has a converter for the released ones). The released checkpoints hold both
models: ``sam2`` and ``sam2-video`` load the same folder or hub id by default.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

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


def _transformers_loader(model_name: str, model_class: str, processor_class: str, wrap: Callable):
    """A ModelSpec ``build``: the checkpoint of ``model_name`` loaded with transformers'
    ``model_class`` and ``processor_class``, moved to the device and dtype, wrapped by ``wrap``."""

    def load(weights: Weights, device: str, dtype: str):
        import torch
        import transformers

        path = local_checkpoint(model_name, weights)
        processor = getattr(transformers, processor_class).from_pretrained(path)
        model = getattr(transformers, model_class).from_pretrained(path)
        return wrap(model.to(device=device, dtype=getattr(torch, dtype)).eval(), processor, device, dtype)

    return load


load_sam2 = _transformers_loader(MODEL_NAME, "Sam2Model", "Sam2Processor", lambda *a: Sam2(*a))


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


# -- video: masks carried from frame to frame (Sam2VideoModel) -----------------------------------

VIDEO_MODEL_NAME = "sam2-video"


class FrameMasks:
    """One frame's masks of every object tracked so far.

    ``object_ids`` (k,) int64: the ids given to ``MaskTracker.add``, in the order they were added;
    ``masks`` (k, H, W) bool at the frame's resolution (empty where the object is not seen);
    ``presence`` (k,) float32 in [0, 1]: SAM2's probability that the object is in the frame."""

    def __init__(self, object_ids: np.ndarray, masks: np.ndarray, presence: np.ndarray):
        self.object_ids, self.masks, self.presence = object_ids, masks, presence

    @classmethod
    def empty(cls, height: int, width: int) -> "FrameMasks":
        return cls(np.zeros(0, np.int64), np.zeros((0, height, width), bool), np.zeros(0, np.float32))


class MaskTracker:
    """SAM2's video predictor over frames given one at a time (streaming), objects added by box.

    ``propagate(image)`` carries every object's mask into the next frame (from the memory of its
    earlier masks); ``add(boxes, ids)`` starts objects from boxes in the frame last propagated (or
    the first frame, when nothing is tracked yet). Frames need not be consecutive video frames:
    SAM2 sees them as consecutive, so sample densely enough for objects to overlap their previous
    masks. State older than SAM2 looks back (its mask memory and object pointers) is dropped as
    the tracker goes, so memory stays flat over long videos."""

    def __init__(self, sam: "Sam2Video"):
        import torch

        self._sam = sam
        self._dtype = getattr(torch, sam.dtype)
        self._session = sam.processor.init_video_session(inference_device=sam.device, dtype=self._dtype)
        self._frame = None  # pixels of the frame last given to propagate
        self._started = False  # whether that frame is in the session (it is once an object is in it)
        self._last = -1  # the session's index of the last frame it ran
        self._size: tuple[int, int] | None = None

    @property
    def n_objects(self) -> int:
        return self._session.get_obj_num()

    def propagate(self, image: np.ndarray) -> FrameMasks:
        """Masks of every tracked object in ``image`` ((H, W, 3) uint8 RGB), the next frame."""
        self._frame = self._pixels(image)
        if not self.n_objects:
            self._started = False  # the session holds no frame yet: the first add starts it
            return FrameMasks.empty(*self._size)
        self._started = True
        return self._run(self._last + 1)

    def add(self, boxes: np.ndarray, object_ids: list[int]) -> FrameMasks:
        """Start objects ``object_ids`` (new ids) from ``boxes`` ((k, 4) pixel x1 y1 x2 y2) in the
        frame last given to ``propagate``; returns that frame's masks of every object."""
        if self._frame is None:
            raise RuntimeError("propagate a frame before adding objects to it")
        if not len(object_ids):
            raise ValueError("no objects to add")
        frame_idx = self._last if self._started else self._last + 1
        self._sam.processor.add_inputs_to_inference_session(
            self._session, frame_idx=frame_idx, obj_ids=[int(i) for i in object_ids],
            input_boxes=[[list(map(float, b)) for b in boxes]], original_size=self._size)
        self._started = True
        # The frame runs (again, when objects were carried into it: they are run with the new ones)
        # in streaming mode; run otherwise, SAM2 takes the frames it holds, which are pruned, for the video.
        return self._run(frame_idx)

    def _pixels(self, image: np.ndarray):
        inputs = self._sam.processor(images=np.array(image), return_tensors="pt")  # a writable copy for torch
        self._size = tuple(int(v) for v in inputs["original_sizes"][0])
        return inputs["pixel_values"][0]

    def _run(self, frame_idx: int) -> FrameMasks:
        """SAM2 on the last frame given, as session frame ``frame_idx``."""
        import torch

        with torch.inference_mode():
            out = self._sam.model(inference_session=self._session, frame=self._frame, frame_idx=frame_idx)
        self._last = int(out.frame_idx)
        masks = self._sam.processor.post_process_masks([out.pred_masks.float().cpu()],
                                                       original_sizes=[list(self._size)], binarize=True)[0]
        presence = torch.sigmoid(out.object_score_logits.float().cpu()).numpy().reshape(-1)
        self._forget_before(self._last)
        return FrameMasks(np.asarray(out.object_ids, np.int64), masks[:, 0].numpy().astype(bool),
                          presence.astype(np.float32))

    def _forget_before(self, frame_idx: int) -> None:
        """Drop frames and per-frame outputs SAM2 no longer reads: pixels of earlier frames, and
        unprompted outputs further back than its mask memory and object pointers reach."""
        session, config = self._session, self._sam.model.config
        reach = max(config.num_maskmem, config.max_object_pointers_in_encoder)
        for idx in [i for i in session.processed_frames or {} if i < frame_idx]:
            del session.processed_frames[idx]
        for outputs in session.output_dict_per_obj.values():
            for idx in [i for i in outputs["non_cond_frame_outputs"] if i < frame_idx - reach]:
                del outputs["non_cond_frame_outputs"][idx]
        for tracked in session.frames_tracked_per_obj.values():
            for idx in [i for i in tracked if i < frame_idx - reach]:
                del tracked[idx]


class Sam2Video:
    """A loaded SAM2 video predictor; ``tracker()`` starts an independent tracking session."""

    def __init__(self, model: Any, processor: Any, device: str, dtype: str):
        self.model, self.processor, self.device, self.dtype = model, processor, device, dtype

    @property
    def nbytes(self) -> int:
        return module_bytes(self.model)

    def tracker(self) -> MaskTracker:
        return MaskTracker(self)


load_sam2_video = _transformers_loader(VIDEO_MODEL_NAME, "Sam2VideoModel", "Sam2VideoProcessor", lambda *a: Sam2Video(*a))


SAM2_VIDEO: ModelSpec[Sam2Video] = ModelSpec(
    name=VIDEO_MODEL_NAME,
    build=load_sam2_video,
    extra="full",
    weights=Weights.hub("facebook/sam2.1-hiera-tiny"),
    devices=("cpu", "cuda"),
    precisions=("float32", "float16", "bfloat16"),
    batch_size=1,
    memory_bytes=200 * 2**20,
)
