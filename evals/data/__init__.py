"""Annotation files shipped with vidagent (package data), e.g. ``smoke.json`` for the ``smoke`` suite."""
