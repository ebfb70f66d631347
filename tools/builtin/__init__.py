"""Built-in tools. Importing this package registers them in ``tools.registry.REGISTRY``."""

from tools.builtin import shots, video_info  # noqa: F401
