"""Run llama-cpp-python's server with prompt states kept in RAM and the first one kept on disk.

Usage (what ``LlamaCppServer(state_dir=...)`` runs)::

    python llamacpp_state_launcher.py STATE_DIR DISK_BYTES <llama_cpp.server arguments> --cache_type disk

Run as a file, not as part of vidagent: it imports only llama_cpp, diskcache (a dependency of
llama-cpp-python) and the standard library, so any Python with llama-cpp-python[server] runs it.

Why: llama.cpp re-evaluates only the tokens after the longest prefix it already holds. Within
one server that is the system prompt of every question after the first; across servers
(``vidagent ask`` started twice) nothing is held, and the prompt (about 1,300 tokens for the
lite default, ~60 s on one CPU thread) is paid again. llama-cpp-python's own disk cache fixes
that but pickles the whole state (~170 MB for Qwen2.5-1.5B) to disk and back on every request,
a few seconds per planner step. ``PersistentPrefixCache`` keeps every state in RAM as the
server's RAM cache does, and writes one state per server process to disk: the state after the
first reply, unless the directory already holds a state that shares 90% of its tokens. A new
server then loads the disk state with the longest common prefix once, on its first request.
"""

from __future__ import annotations

import runpy
import sys

import diskcache
import llama_cpp
from llama_cpp.llama_cache import BaseLlamaCache, LlamaRAMCache

# A state already on disk that shares this fraction of a new state's tokens makes writing the
# new one pointless: later servers would gain at most the remaining tenth from it.
SHARED_FRACTION_TO_SKIP_WRITE = 0.9


def shared_prefix(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    """How many leading tokens ``a`` and ``b`` have in common."""
    return llama_cpp.Llama.longest_token_prefix(a, b)


class PersistentPrefixCache(BaseLlamaCache):
    """A llama-cpp-python state cache: all states in RAM (``capacity_bytes``), one per process on
    disk in ``state_dir`` (``disk_bytes`` at most; the oldest stored go first)."""

    def __init__(self, state_dir: str, disk_bytes: int, capacity_bytes: int = 2 << 30):
        super().__init__(capacity_bytes)
        self.ram = LlamaRAMCache(capacity_bytes)
        self.disk = diskcache.Cache(state_dir, size_limit=disk_bytes, eviction_policy="least-recently-stored")
        self.wrote_to_disk = False

    @property
    def cache_size(self) -> int:
        return self.ram.cache_size

    def _best_on_disk(self, key: tuple[int, ...]) -> tuple[int, tuple[int, ...] | None]:
        best, best_key = 0, None
        for stored in self.disk.iterkeys():
            n = shared_prefix(stored, key)
            if n > best:
                best, best_key = n, stored
        return best, best_key

    def _best_in_ram(self, key: tuple[int, ...]) -> int:
        stored = self.ram._find_longest_prefix_key(key)
        return shared_prefix(stored, key) if stored is not None else 0

    def __getitem__(self, key) -> "llama_cpp.llama.LlamaState":
        key = tuple(key)
        in_ram = self._best_in_ram(key)
        on_disk, disk_key = self._best_on_disk(key)
        if disk_key is not None and on_disk > in_ram:
            state = self.disk.get(disk_key)
            if state is not None:
                return state
        if in_ram == 0:
            raise KeyError("no stored state shares a prefix with this prompt")
        return self.ram[key]

    def __contains__(self, key) -> bool:
        key = tuple(key)
        return self._best_in_ram(key) > 0 or self._best_on_disk(key)[0] > 0

    def __setitem__(self, key, value: "llama_cpp.llama.LlamaState") -> None:
        key = tuple(key)
        self.ram[key] = value
        if self.wrote_to_disk:
            return
        self.wrote_to_disk = True
        if self._best_on_disk(key)[0] < SHARED_FRACTION_TO_SKIP_WRITE * len(key):
            self.disk.set(key, value)


def main(argv: list[str]) -> None:
    state_dir, disk_bytes, server_args = argv[0], int(argv[1]), argv[2:]

    def cache_factory(capacity_bytes: int = 2 << 30) -> PersistentPrefixCache:
        return PersistentPrefixCache(state_dir, disk_bytes, capacity_bytes)

    # llama_cpp.server builds its cache as llama_cpp.LlamaDiskCache(capacity_bytes=...) when
    # started with --cache_type disk.
    llama_cpp.LlamaDiskCache = cache_factory
    sys.argv = ["llama_cpp.server", *server_args]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
