"""``vidagent serve``: a local HTTP API and web page over the agent and evaluation reports.

It sits above ``agent`` and ``evals`` (it shows evaluation runs' reports), so it is a package
of its own and nothing else imports it. FastAPI and uvicorn (the ``serve`` extra) are imported
only inside :mod:`server.app` and :mod:`server.cli`'s command.
"""
