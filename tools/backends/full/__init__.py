"""Full-tier backends: GPU models through their real libraries (the ``full`` extra), and a
vision-language model server.

Registered through the ``vidagent.tools`` entry point ``full``: Grounding DINO for
``detect_objects`` and ``ground_phrase`` (tracking and everything built on tracks follow from
the generic core backends), open_clip for ``retrieve_frames`` (over the cached ``embed_frames``),
SAM2 for ``segment_objects`` and, by masks carried through the video, for ``track_objects``
(``[tools] backends = { track_objects = "sam2" }``; ByteTrack over Grounding DINO stays the
default); ``vlm`` answers ``describe_frames`` and ``ask_frames`` by the vision-language model of
``[tools.visual]`` (an OpenAI-compatible server, e.g. the vision planner's own vLLM). Importing
this package imports no heavy library; each model loads on its first call through ``ctx.load``
on the run's device, from its default hub id or the run's ``[tools] weights`` entry
(``models/``: the wrappers).
"""

from tools.backends.full import detect, ground, retrieve, segment, track, vlm  # noqa: F401
