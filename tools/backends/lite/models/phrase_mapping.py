"""Map a free-text object phrase to one of the 80 COCO labels the lite detector knows, or to none.

Rules, first hit wins:
  1. normalise (lower case, no punctuation or leading determiners), split off colour words as
     attributes ("a red car" -> noun "car", attributes ("red",); colour words anywhere in
     the phrase count, so "man in a red shirt" -> person, ("red",)) and keep the head of
     the phrase ("man in a hat" -> "man", "slice of pizza" -> "pizza");
  2. the noun or, failing that, ever shorter head-final parts of it ("police car" -> "car";
     English compounds are head-final) are looked up, each also made singular:
     in ``UNSUPPORTED`` (near misses such as "tractor", "traffic cone", "flag") -> method
     "none"; a COCO label or a key of ``SYNONYMS`` -> method "synonym";
  3. otherwise MiniLM cosine similarity to every label and synonym: accepted at
     ``EMBEDDING_THRESHOLD`` or above -> method "embedding"; else method "none", with the
     nearest label and its score kept in ``nearest`` / ``score`` to explain the miss.

A phrase with ``label is None`` is unsupported by the closed-set detector: callers must say
so instead of counting some other class.

>>> PhraseMapper().map("a red car")   # doctest: +SKIP
PhraseMatch(phrase='a red car', label='car', score=1.0, method='synonym', noun='car', attributes=('red',), nearest=None)
>>> PhraseMapper().map("mouse trap").explain()   # doctest: +SKIP
"'mouse trap' is not one of the 80 COCO classes the detector knows (closest: 'mouse', text similarity 0.77, too low)"
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Literal

import numpy as np

from tools.backends.lite.models.coco_labels import COCO_CLASS_NAMES
from tools.model_loading import ModelSpec

EMBEDDING_THRESHOLD = 0.82
"""Cosine similarity (all-MiniLM-L6-v2) at or above which a phrase the tables do not settle
is mapped to its nearest label or synonym. MiniLM scores topical relatedness, not "is a":
on 170 held-out unmapped phrases the highest were bathroom -> toilet 0.79, pot -> potted
plant 0.78, mouse trap -> mouse 0.77, fire -> truck 0.75, while true matches such as
poodle -> dog scored 0.60-0.70. So the threshold sits above every unmapped phrase seen
(precision first) and the tables carry recall; the embedding catches close variants
("laptop pc" 0.90, "motorboat" 0.85)."""

Method = Literal["synonym", "embedding", "none"]

# Colour words -> basic colour name (see colors.BASIC_COLORS).
COLOR_WORDS: dict[str, str] = {
    "black": "black", "white": "white", "gray": "gray", "grey": "gray", "silver": "gray",
    "red": "red", "maroon": "red", "orange": "orange", "yellow": "yellow", "green": "green",
    "blue": "blue", "navy": "blue", "purple": "purple", "violet": "purple", "pink": "pink",
    "brown": "brown", "beige": "brown", "tan": "brown",
}  # fmt: skip

SYNONYMS: dict[str, str] = {
    # person
    "man": "person", "men": "person", "woman": "person", "women": "person", "people": "person",
    "pedestrian": "person", "human": "person", "child": "person", "children": "person",
    "kid": "person", "boy": "person", "girl": "person", "guy": "person", "lady": "person",
    "baby": "person", "adult": "person", "cyclist": "person", "biker": "person",
    "bicyclist": "person", "motorcyclist": "person", "rider": "person", "driver": "person",
    "player": "person", "someone": "person", "persons": "person", "passerby": "person",
    "passersby": "person", "worker": "person",
    "police officer": "person", "policeman": "person", "teenager": "person",
    "toddler": "person", "grandmother": "person", "grandfather": "person", "mother": "person",
    "father": "person", "businessman": "person", "businesswoman": "person", "student": "person",
    "teacher": "person", "athlete": "person", "soldier": "person", "tourist": "person",
    "spectator": "person", "crowd": "person", "jogger": "person", "runner": "person",
    # vehicles
    "automobile": "car", "auto": "car", "sedan": "car", "taxi": "car", "cab": "car",
    "taxicab": "car", "jeep": "car", "suv": "car", "hatchback": "car", "coupe": "car",
    "convertible": "car", "minivan": "car",
    "lorry": "truck", "pickup": "truck", "pickup truck": "truck", "fire engine": "truck",
    "bike": "bicycle", "push bike": "bicycle", "pushbike": "bicycle", "cycle": "bicycle",
    "motorbike": "motorcycle", "motor bike": "motorcycle", "moped": "motorcycle",
    "motor scooter": "motorcycle", "dirt bike": "motorcycle", "limousine": "car", "limo": "car",
    "racecar": "car", "station wagon": "car", "microwave oven": "microwave",
    "plane": "airplane", "aeroplane": "airplane", "aircraft": "airplane", "jet": "airplane",
    "airliner": "airplane", "jetliner": "airplane",
    "coach": "bus", "minibus": "bus", "trolleybus": "bus",
    "tram": "train", "streetcar": "train", "locomotive": "train", "subway": "train",
    "railway carriage": "train",
    "ship": "boat", "sailboat": "boat", "yacht": "boat", "canoe": "boat", "kayak": "boat",
    "ferry": "boat", "speedboat": "boat", "rowboat": "boat", "catamaran": "boat",
    # street
    "traffic signal": "traffic light", "stoplight": "traffic light", "stop light": "traffic light",
    "hydrant": "fire hydrant",
    # animals
    "puppy": "dog", "doggy": "dog", "doggie": "dog", "pup": "dog", "hound": "dog",
    "poodle": "dog", "labrador": "dog", "retriever": "dog", "german shepherd": "dog",
    "terrier": "dog", "bulldog": "dog", "beagle": "dog", "chihuahua": "dog", "husky": "dog",
    "kitten": "cat", "kitty": "cat", "pussycat": "cat",
    "pony": "horse", "foal": "horse", "stallion": "horse", "mare": "horse",
    "lamb": "sheep", "ram": "sheep", "calf": "cow", "cattle": "cow", "bull": "cow", "ox": "cow",
    "pigeon": "bird", "seagull": "bird", "gull": "bird", "duck": "bird", "goose": "bird",
    "swan": "bird", "parrot": "bird", "owl": "bird", "eagle": "bird", "crow": "bird",
    "sparrow": "bird", "chicken": "bird", "hen": "bird", "rooster": "bird",
    # things
    "cellphone": "cell phone", "phone": "cell phone",
    "mobile phone": "cell phone", "mobile": "cell phone", "smartphone": "cell phone",
    "smart phone": "cell phone", "iphone": "cell phone",
    "television": "tv", "tv set": "tv", "television set": "tv", "monitor": "tv",
    "sofa": "couch", "settee": "couch", "armchair": "chair", "stool": "chair",
    "table": "dining table", "houseplant": "potted plant",
    "pot plant": "potted plant", "mug": "cup", "teacup": "cup", "coffee cup": "cup",
    "purse": "handbag", "luggage": "suitcase", "rucksack": "backpack",
    "ball": "sports ball", "football": "sports ball", "soccer ball": "sports ball",
    "basketball": "sports ball", "tennis ball": "sports ball", "baseball": "sports ball",
    "racket": "tennis racket", "racquet": "tennis racket", "tennis racquet": "tennis racket",
    "fridge": "refrigerator", "doughnut": "donut", "hotdog": "hot dog",
    "hair dryer": "hair drier", "hairdryer": "hair drier", "remote control": "remote",
    "computer mouse": "mouse", "notebook computer": "laptop", "laptop computer": "laptop",
    "teddy": "teddy bear", "ski": "skis", "skateboarder": "person", "surfer": "person",
    "skier": "person", "snowboarder": "person", "necktie": "tie",
    "wineglass": "wine glass", "cupcake": "cake", "flatscreen": "tv", "parasol": "umbrella",
    "novel": "book", "wall clock": "clock", "alarm clock": "clock",
}  # fmt: skip

UNSUPPORTED: frozenset[str] = frozenset({
    # Near misses: things a MiniLM score puts close to a COCO label they are not.
    "tractor", "traffic cone", "cone", "flag", "sign", "street sign", "road sign", "glove",
    "gloves", "wheelchair", "goat", "deer", "pig", "lion", "tiger", "monkey", "fish",
    "wheel", "tire", "tyre", "glasses", "eyeglasses", "sunglasses", "plate", "snow",
    "van", "helmet", "hat", "shoe", "door", "window", "mirror", "desk", "blender",
})  # fmt: skip

_DETERMINERS = frozenset(
    "a an the some any this that these those my your his her their its our all every each "
    "one two three four five six seven eight nine ten many several few".split()
)


@dataclass(frozen=True)
class PhraseMatch:
    """Result of mapping one phrase.

    phrase: the input, unchanged.
    label: COCO label, or None when no COCO class covers the phrase.
    score: 1.0 for a table match; the MiniLM cosine similarity (in [-1, 1]) for an
        embedding match or miss; 0.0 for a phrase listed as unsupported.
    method: "synonym" (label, synonym or head noun found in the tables), "embedding"
        (nearest by MiniLM, at or above the threshold) or "none" (unsupported).
    noun: the normalised noun phrase that was mapped (colour words removed).
    attributes: basic colour names found in the phrase, for a later colour filter.
    nearest: closest label by MiniLM (also for "none", to explain the miss); None when
        the phrase was settled by the tables alone.
    """

    phrase: str
    label: str | None
    score: float
    method: Method
    noun: str
    attributes: tuple[str, ...] = ()
    nearest: str | None = None

    @property
    def supported(self) -> bool:
        return self.label is not None

    def explain(self) -> str:
        """One sentence for a planner or a log."""
        if self.method == "synonym":
            return f"'{self.phrase}' -> COCO class '{self.label}'"
        if self.method == "embedding":
            return f"'{self.phrase}' -> COCO class '{self.label}' (text similarity {self.score:.2f})"
        if self.nearest is not None:
            return (
                f"'{self.phrase}' is not one of the 80 COCO classes the detector knows"
                f" (closest: '{self.nearest}', text similarity {self.score:.2f}, too low)"
            )
        return f"'{self.phrase}' is not one of the 80 COCO classes the detector knows"


_TABLE: dict[str, str] = {**{name: name for name in COCO_CLASS_NAMES}, **SYNONYMS}


def normalise(phrase: str) -> str:
    """Lower case, hyphens to spaces, punctuation and leading determiners dropped."""
    text = re.sub(r"[-_/]", " ", phrase.lower())
    text = re.sub(r"[^a-z0-9 ']", " ", text).replace("'s ", " ")
    words = text.split()
    while words and words[0] in _DETERMINERS:
        words = words[1:]
    return " ".join(words)


def split_colors(noun_phrase: str) -> tuple[str, tuple[str, ...]]:
    """("red car" -> ("car", ("red",))). A phrase that is only a colour word keeps it ("orange")."""
    words = noun_phrase.split()
    colours = [COLOR_WORDS[w] for w in words if w in COLOR_WORDS]
    rest = [w for w in words if w not in COLOR_WORDS]
    if not rest:
        return noun_phrase, ()
    return " ".join(rest), tuple(dict.fromkeys(colours))


def _singulars(word: str) -> list[str]:
    out = [word]
    if word.endswith("ies") and len(word) > 4:
        out.append(word[:-3] + "y")
    if word.endswith("ves"):
        out += [word[:-3] + "f", word[:-3] + "fe"]
    if word.endswith(("ses", "xes", "ches", "shes")):
        out.append(word[:-2])
    if word.endswith("s") and not word.endswith("ss"):
        out.append(word[:-1])
    return out


def _lookup(noun: str, table: dict[str, str] | frozenset[str]) -> str | None:
    """The table key matching ``noun`` or its singular (last word made singular), else None."""
    words = noun.split()
    if not words:
        return None
    for last in _singulars(words[-1]):
        key = " ".join(words[:-1] + [last])
        if key in table:
            return key
    return None


_PREPOSITIONS = ("of", "in", "on", "with", "at", "near", "by", "wearing", "holding", "carrying", "riding")


_QUANTITY_WORDS = frozenset(
    "slice slices piece pieces group groups pair pairs bunch bunches herd herds flock flocks "
    "crowd crowds couple team teams pack packs lot lots number kind kinds type types".split()
)


def head_phrase(noun_phrase: str) -> str:
    """The object a phrase names: the part before the first preposition ("man in a hat" ->
    "man", "cup of coffee" -> "cup"), or after "of" when what precedes it is a quantity
    ("slice of pizza" -> "pizza", "herd of cows" -> "cows")."""
    words = noun_phrase.split()
    for i, w in enumerate(words):
        if i > 0 and w in _PREPOSITIONS:
            if w == "of" and words[i - 1] in _QUANTITY_WORDS:
                return head_phrase(" ".join(words[i + 1 :]))
            return " ".join(words[:i])
    if len(words) > 1 and words[-1] in _QUANTITY_WORDS:  # "pizza slice" -> "pizza"
        return " ".join(words[:-1])
    return noun_phrase


def _tails(noun: str) -> list[str]:
    """Trailing word groups, longest first: "red police car" -> ["red police car", "police car", "car"]."""
    words = noun.split()
    return [" ".join(words[i:]) for i in range(len(words))]


class PhraseMapper:
    """Phrase -> COCO label mapper. ``embedder`` is a ``TextEmbedder`` (the shared one when None),
    used only for phrases the tables do not settle. Thread-safe."""

    def __init__(self, embedder=None, threshold: float = EMBEDDING_THRESHOLD):
        self._embedder = embedder
        self.threshold = threshold
        self._anchors: list[str] = sorted(_TABLE)
        self._anchor_vecs: np.ndarray | None = None
        self._lock = threading.Lock()

    def _embed_anchors(self):
        if self._embedder is None:
            from tools.backends.lite.models.text_embedder import TEXT_EMBEDDER
            from tools.model_loading import MODELS

            self._embedder = MODELS.load(TEXT_EMBEDDER)
        with self._lock:
            if self._anchor_vecs is None:
                self._anchor_vecs = self._embedder.embed(self._anchors)
        return self._embedder, self._anchor_vecs

    def nearest(self, noun: str) -> tuple[str, float]:
        """Closest COCO label to ``noun`` by MiniLM over labels and synonyms, and its cosine."""
        embedder, anchors = self._embed_anchors()
        sims = anchors @ embedder.embed([noun])[0]
        best = int(np.argmax(sims))
        return _TABLE[self._anchors[best]], float(sims[best])

    def map(self, phrase: str) -> PhraseMatch:
        """Map one phrase; see the module docstring for the rules."""
        normal, attributes = split_colors(normalise(phrase))
        noun = head_phrase(normal)
        for tail in _tails(noun):  # the whole noun first, then ever shorter head-final parts
            if _lookup(tail, UNSUPPORTED) is not None:
                return PhraseMatch(phrase, None, 0.0, "none", noun, attributes)
            found = _lookup(tail, _TABLE)
            if found is not None:
                return PhraseMatch(phrase, _TABLE[found], 1.0, "synonym", noun, attributes)
        if not noun:
            return PhraseMatch(phrase, None, 0.0, "none", noun, attributes)
        label, score = self.nearest(noun)
        if score >= self.threshold:
            return PhraseMatch(phrase, label, score, "embedding", noun, attributes, nearest=label)
        return PhraseMatch(phrase, None, score, "none", noun, attributes, nearest=label)

    def map_many(self, phrases: list[str]) -> list[PhraseMatch]:
        return [self.map(p) for p in phrases]


def _build_mapper(weights, device) -> PhraseMapper:
    from tools.backends.lite.models.text_embedder import TEXT_EMBEDDER
    from tools.model_loading import MODELS

    return PhraseMapper(MODELS.load(TEXT_EMBEDDER, device))


#: The mapper over the shared MiniLM embedder (its weights are the embedder's).
PHRASE_MAPPER = ModelSpec(name="phrase-mapper", build=_build_mapper, extra="lite")
