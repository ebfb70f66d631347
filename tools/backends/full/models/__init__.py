"""Model wrappers of the full tier: each exposes a ``ModelSpec`` loaded through ``ctx.load`` and a
small typed interface over its library (transformers, open_clip), with the pre- and
post-processing that does not need the model kept in plain numpy functions."""
