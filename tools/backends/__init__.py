"""Backends by tier, one folder each; a backend implements a capability of ``tools.capabilities``.

- ``core/``: weight-free (video metadata, shot cuts, colours, tracking and what builds on it);
  offered by every profile.
- ``lite/``: CPU models that ship inside PyPI packages, with their wrappers in ``lite/models/``.
- ``full/``: GPU models (Grounding DINO, SAM2, open_clip, ...), with their wrappers beside them.

A user's backend lives in the user's own package and registers through the ``vidagent.tools``
entry-point group, exactly as these three folders do.
"""
