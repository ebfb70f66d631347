"""Encode a ``ToolOutput`` as JSON text plus a compressed blob of numpy arrays, without pickle.

``encode_output`` dumps ``output.data`` with ``model_dump(mode="python")`` and walks the
result: every numpy array (and numpy scalar) moves into an in-memory ``.npz`` archive
(``np.savez_compressed``; bool arrays such as masks are bit-packed first) and is replaced
in the JSON by a reference such as ``{"$nd": "a3"}``. ``decode_output`` loads the archive
with ``allow_pickle=False``, puts the arrays back and rebuilds the payload with
``result_model.model_validate``.

What round-trips exactly: array dtypes (including unicode ``<U`` arrays such as
``Detections.label``), shapes and values, and memory order except for bool arrays; numpy
scalars keep their dtype; stacks of masks ((n, H, W) bool) are run-length encoded
(``tools.masks``); tuples, dicts with non-string keys and bytes keep their Python
type. Any other value (datetime, Enum, set, ...) is stored the way pydantic's JSON mode
stores it and comes back through validation, so it must sit in a typed field. The same
holds for nested models and ``Detections``: pydantic dumps them to dicts, and
``model_validate`` rebuilds them from the field's type annotation (under ``Any`` they would
come back as plain dicts).

Object arrays are refused: they cannot be stored without pickle.

>>> from pydantic import BaseModel, ConfigDict
>>> class Counts(BaseModel):
...     model_config = ConfigDict(arbitrary_types_allowed=True)
...     per_frame: np.ndarray
>>> out = ToolOutput(observation="3 people", data=Counts(per_frame=np.array([1, 3], dtype=np.int16)))
>>> text, blob = encode_output(out, Counts)
>>> decode_output(text, blob, Counts).data.per_frame.dtype
dtype('int16')
"""

from __future__ import annotations

import base64
import io
import json
import math
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticSerializationError, to_jsonable_python

from tools.detections import Detections
from tools.errors import VidagentError
from tools.masks import rle_decode, rle_encode
from tools.types import Evidence, ToolOutput

#: Version of the JSON document layout; ``decode_output`` refuses other versions.
FORMAT_VERSION = 1

# Tags of the JSON objects that stand for non-JSON values. A dict whose keys start with
# "$" is itself stored under _ITEMS, so user data can never be mistaken for a tag.
_ARRAY = "$nd"  # numpy array -> name in the archive
_BITS = "$bits"  # bool array -> [name of its np.packbits bytes, shape]
_RLE = "$rle"  # (n, H, W) bool masks -> [name of their run lengths, name of runs per mask, shape]
_SCALAR = "$np"  # numpy scalar -> name of a 0-d array in the archive
_DETECTIONS = "$det"  # a Detections instance -> {field: encoded array}
_TUPLE = "$tuple"
_ITEMS = "$items"  # dict with non-str keys or keys starting with "$" -> [[key, value], ...]
_BYTES = "$b64"


class SerializationError(VidagentError):
    """A tool output cannot be encoded, or stored bytes cannot be decoded."""


def encode_output(output: ToolOutput, result_model: type[BaseModel] | None = None) -> tuple[str, bytes]:
    """``(json_text, blob)`` for ``output``; ``blob`` is ``b""`` when the payload holds no array.

    ``result_model`` is the model ``decode_output`` will rebuild ``output.data`` with
    (``ToolBackend.result_model``). It is required when ``output.data`` is set and must be
    exactly ``type(output.data)``: checking here makes a missing declaration fail when the
    result is stored rather than when it is read back.
    """
    _check_result_model(output.data, result_model)
    store = _ArrayStore()
    data = None
    if output.data is not None:
        dumped = output.data.model_dump(mode="python", round_trip=True, exclude_computed_fields=True)
        data = _encode(dumped, store, "data")
    doc = {
        "format": FORMAT_VERSION,
        "observation": output.observation,
        "evidence": [e.model_dump(mode="json") for e in output.evidence],
        "data": data,
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")), store.to_blob()


def decode_output(json_text: str, blob: bytes, result_model: type[BaseModel] | None) -> ToolOutput:
    """The ``ToolOutput`` that ``encode_output`` turned into ``(json_text, blob)``.

    Raises ``SerializationError`` if the stored payload has data but ``result_model`` is
    None, or if the data no longer validates against ``result_model``.
    """
    try:
        doc = json.loads(json_text)
    except json.JSONDecodeError as exc:
        raise SerializationError(f"stored tool output is not valid JSON: {exc}") from exc
    if doc.get("format") != FORMAT_VERSION:
        raise SerializationError(f"stored tool output has format {doc.get('format')!r}; expected {FORMAT_VERSION}")
    data = None
    if doc["data"] is not None:
        if result_model is None:
            raise SerializationError("stored tool output has data but no result_model was given to rebuild it")
        tree = _decode(doc["data"], _ArrayReader(blob))
        try:
            data = result_model.model_validate(tree, by_alias=False, by_name=True)
        except ValidationError as exc:
            raise SerializationError(
                f"stored data does not fit {result_model.__qualname__} ({exc.error_count()} errors; first: "
                f"{exc.errors()[0]['msg']} at {exc.errors()[0]['loc']}); bump the tool version when its output changes"
            ) from exc
    evidence = [Evidence.model_validate(e) for e in doc["evidence"]]
    return ToolOutput(observation=doc["observation"], data=data, evidence=evidence)


def _check_result_model(data: BaseModel | None, result_model: type[BaseModel] | None) -> None:
    if data is None:
        return
    kind = type(data).__qualname__
    if result_model is None:
        raise SerializationError(
            f"ToolOutput.data is a {kind} but no result_model was given; declare result_model={kind} "
            "on the tool backend so the cached result can be rebuilt"
        )
    if type(data) is not result_model:
        raise SerializationError(
            f"ToolOutput.data is a {kind} but the declared result_model is {result_model.__qualname__}; "
            "they must be the same class"
        )


class _ArrayStore:
    """Arrays collected while encoding, named ``a0, a1, ...`` in order of appearance."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def add(self, array: np.ndarray, path: str) -> str:
        if array.dtype.hasobject:
            raise SerializationError(f"{path}: arrays of dtype {array.dtype} hold Python objects and need pickle")
        name = f"a{len(self.arrays)}"
        self.arrays[name] = np.asarray(array)
        return name

    def to_blob(self) -> bytes:
        if not self.arrays:
            return b""
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **self.arrays)  # object dtypes were refused in add()
        return buffer.getvalue()


class _ArrayReader:
    """The archive of ``_ArrayStore.to_blob``, read lazily and never with pickle."""

    def __init__(self, blob: bytes) -> None:
        self._blob = blob
        self._npz = None

    def get(self, name: str) -> np.ndarray:
        if self._npz is None:
            if not self._blob:
                raise SerializationError(f"stored tool output refers to array {name!r} but has no array blob")
            try:
                self._npz = np.load(io.BytesIO(self._blob), allow_pickle=False)
            except (ValueError, OSError) as exc:
                raise SerializationError(f"stored array blob is unreadable: {exc}") from exc
        try:
            return self._npz[name]
        except KeyError:
            raise SerializationError(f"stored array blob has no array {name!r}") from None


def _encode(value: Any, store: _ArrayStore, path: str) -> Any:
    """A JSON-compatible tree for ``value``; arrays go to ``store``. ``path`` names the value in errors."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.ndarray):
        if isinstance(value, np.ma.MaskedArray):
            raise SerializationError(f"{path}: masked arrays are not supported (store data and mask separately)")
        if value.dtype == np.bool_ and value.ndim == 3:
            # A stack of masks (Detections.mask): run-length encoded, a few runs per row.
            runs, lengths = rle_encode(value)
            return {_RLE: [store.add(runs, path), store.add(lengths, path), list(value.shape)]}
        if value.dtype == np.bool_ and value.ndim:
            # Masks: 8 pixels per byte before compression is ~2x smaller and ~4x faster to encode.
            return {_BITS: [store.add(np.packbits(value, axis=None), path), list(value.shape)]}
        return {_ARRAY: store.add(value, path)}
    if isinstance(value, np.generic):
        return {_SCALAR: store.add(np.asarray(value), path)}
    if isinstance(value, Detections):
        return {_DETECTIONS: {k: _encode(a, store, f"{path}.{k}") for k, a in value.to_arrays().items()}}
    if isinstance(value, list):
        return [_encode(v, store, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return {_TUPLE: [_encode(v, store, f"{path}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, dict):
        return _encode_dict(value, store, path)
    if isinstance(value, (bytes, bytearray)):
        return {_BYTES: base64.b64encode(value).decode("ascii")}
    try:
        return to_jsonable_python(value)
    except PydanticSerializationError as exc:
        raise SerializationError(f"{path}: cannot store a {type(value).__qualname__} ({exc})") from exc


def _encode_dict(value: dict, store: _ArrayStore, path: str) -> dict:
    if all(isinstance(k, str) and not k.startswith("$") for k in value):
        return {k: _encode(v, store, f"{path}.{k}") for k, v in value.items()}
    return {_ITEMS: [[_encode(k, store, path), _encode(v, store, f"{path}[{k!r}]")] for k, v in value.items()]}


def _decode(node: Any, arrays: _ArrayReader) -> Any:
    """Inverse of ``_encode``."""
    if isinstance(node, list):
        return [_decode(v, arrays) for v in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        (tag, inner), = node.items()
        if tag == _ARRAY:
            return arrays.get(inner)
        if tag == _BITS:
            name, shape = inner
            bits = np.unpackbits(arrays.get(name), count=math.prod(shape))
            return bits.reshape(shape).view(np.bool_)
        if tag == _RLE:
            runs, lengths, shape = inner
            return rle_decode(arrays.get(runs), arrays.get(lengths), tuple(shape))
        if tag == _SCALAR:
            return arrays.get(inner)[()]
        if tag == _DETECTIONS:
            return Detections.from_arrays({k: _decode(v, arrays) for k, v in inner.items()})
        if tag == _TUPLE:
            return tuple(_decode(v, arrays) for v in inner)
        if tag == _ITEMS:
            return {_decode(k, arrays): _decode(v, arrays) for k, v in inner}
        if tag == _BYTES:
            return base64.b64decode(inner)
    return {k: _decode(v, arrays) for k, v in node.items()}
