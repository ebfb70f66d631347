"""Built-in tools. Importing this package registers them in ``tools.registry.REGISTRY``."""

from tools.builtin import derived, shots, video_info  # noqa: F401
