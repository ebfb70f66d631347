"""Full-tier backends: GPU models (Grounding DINO, SAM2, open_clip, vision-language models).

Registered through the ``vidagent.tools`` entry point ``full``. Each backend registers against
a capability of ``tools.capabilities`` with ``profiles=("full",)`` and loads its model through
``ctx.load(ModelSpec(...))`` with ``Weights.hub(...)`` or ``Weights.path(...)`` and the run's
device, or asks a model server (``vlm``: ``describe_frames`` and ``ask_frames`` by the
vision-language model of ``[tools.visual]``). ``vidagent tools list --profile full`` says which
tools the profile lacks and why.
"""

from tools.backends.full import vlm  # noqa: F401
