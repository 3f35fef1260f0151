"""Caption text normalisation used everywhere (tokenizer, training targets, decoding).

DCASE practice: lower case, punctuation removed, whitespace collapsed. References given
to the metrics stay raw: aac-metrics applies its own PTB tokenisation.
"""

from __future__ import annotations

import re
import unicodedata

_PUNCT = re.compile(r"[^\w\s']|_")
_SPACES = re.compile(r"\s+")


def normalize_caption(text: str) -> str:
    """'A dog barks, then -- a car!' -> 'a dog barks then a car'."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _PUNCT.sub(" ", text)
    text = text.replace("'", "")  # "dog's" -> "dogs", as the DCASE baselines do
    return _SPACES.sub(" ", text).strip()
