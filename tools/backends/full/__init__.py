"""Full-tier backends: GPU models (Grounding DINO, SAM2, open_clip, vision-language models).

Registered through the ``vidagent.tools`` entry point ``full``. Each backend registers against
a capability of ``tools.capabilities`` with ``profiles=("full",)`` and loads its model through
``ctx.load(ModelSpec(...))`` with ``Weights.hub(...)`` or ``Weights.path(...)`` and the run's
device. None is built yet: the full profile offers the weight-free backends of
``tools.backends.core`` only, and ``vidagent tools list --profile full`` says which tools it
lacks and why.
"""
