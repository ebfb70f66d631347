"""Vision tools: typed capabilities, their backends, video I/O and the result cache.

Nothing here imports from ``planners``, ``agent`` or ``evals``.
"""
