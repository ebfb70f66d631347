"""Weight-free backends, offered by every profile: video metadata, shots, colours, and tracking,
counting, timelines and motion over whatever ``detect_objects`` backend a profile has.

Registered through the ``vidagent.tools`` entry point ``core`` (importing this package
registers them in ``tools.registry.REGISTRY``).
"""

from tools.backends.core import dominant_color, shots, track_derived, track_objects, video_info  # noqa: F401
