"""Action recognisers made by transferring an image model to video.

``data``: clip datasets (a folder per class, or a CSV of labelled spans) decoded through the
project's video reader. ``synthetic``: a generated dataset whose classes differ only in the
order of frames. ``backbones``: frame encoders (open_clip ViT, timm, the lite EfficientNet-Lite3).
``methods``: the transfer methods (linear probe, temporal head, side network, ST-adapters, LoRA,
visual prompts, partial fine-tuning). ``training``: the training loop, ``checkpoint``: what a
trained recogniser saves, ``recognizer``: a loaded checkpoint scoring spans of a video,
``backend``: the ``recognize_action`` tool over checkpoints named in config, ``cli``:
``vidagent train recognizer``.

Importing this package imports no heavy library: torch, open_clip, timm and peft load inside
the functions that need them.
"""
