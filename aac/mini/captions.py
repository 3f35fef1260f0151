"""Human-like captions for synthetic scenes.

A scene is up to two foreground events in sequence plus an optional background event.
Each event becomes a clause ("a dog barks twice") from a small phrase book; templates then
join clauses by order ("then", "before", "after") or overlap ("while", "as", "in the
background"). Five captions per clip use five different templates, so the references
differ in wording but agree in content, like Clotho's.

Why so few synonyms: each event has one usual wording (an alternative with probability
RARE_P) and each attribute one word. With a free choice among 3-4 synonyms per event and
per attribute, one reference scored only ~1.7 CIDEr-D against the other four, about 3x the
best constant caption, so no model could show it heard the events much better than a
constant; the variety left is in sentence shape, as between Clotho's annotators.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

# kind -> phrases (subject, plural, verb 3rd person, verb -ing); the first is the usual
# wording, the others are drawn with probability RARE_P (people mostly name a sound the same way).
PHRASES = {
    "siren": [
        ("siren", False, "wails", "wailing"),
        ("emergency siren", False, "sounds", "sounding"),
    ],
    "bell": [("bell", False, "rings", "ringing"), ("church bell", False, "chimes", "chiming")],
    "beep": [("machine", False, "beeps", "beeping"), ("alarm", False, "beeps", "beeping")],
    "knock": [
        ("someone", None, "knocks on a door", "knocking on a door"),
        ("person", False, "knocks on a door", "knocking on a door"),
    ],
    "footsteps": [
        ("footsteps", True, "approach", "approaching"),
        ("person", False, "walks closer", "walking closer"),
    ],
    "birds": [("birds", True, "chirp", "chirping"), ("birds", True, "sing", "singing")],
    "dog": [("dog", False, "barks", "barking"), ("small dog", False, "barks", "barking")],
    "horn": [("car horn", False, "honks", "honking"), ("horn", False, "blows", "blowing")],
    "rain": [("rain", None, "falls", "falling"), ("rain", None, "pours down", "pouring down")],
    "wind": [("wind", None, "blows", "blowing"), ("wind", None, "howls", "howling")],
    "engine": [("car engine", False, "idles", "idling"), ("engine", False, "rumbles", "rumbling")],
    "water": [("water", None, "flows", "flowing"), ("stream", False, "flows", "flowing")],
    "music": [("music", None, "plays", "playing"), ("melody", False, "plays", "playing")],
}
RARE_P = 0.1
FOREGROUND = ("siren", "bell", "beep", "knock", "footsteps", "birds", "dog", "horn")
BACKGROUND = ("rain", "wind", "engine", "water", "music")
COUNTED = ("knock", "dog")  # kinds whose number of repetitions is an attribute
LEVELS = ("loud", "normal", "distant")

ADJECTIVES = {"loud": ["loud"], "distant": ["distant"], "normal": [""]}
ADVERBS = {"loud": ["loudly"], "distant": ["in the distance"], "normal": [""]}
ADVERB_P = 0.0  # adverb instead of adjective (always for "someone", which takes no adjective)
COUNT_WORDS = {2: ["twice"], 3: ["three times"]}


@dataclass(frozen=True)
class Event:
    kind: str
    level: str = "normal"
    count: int = 0  # repetitions for COUNTED kinds, else 0


@dataclass(frozen=True)
class Scene:
    foreground: Tuple[Event, ...]  # in time order
    background: Optional[Event] = None

    @property
    def events(self) -> Tuple[Event, ...]:
        return self.foreground + ((self.background,) if self.background else ())


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def phrase(event: Event, rng) -> Tuple[str, str]:
    """(clause, -ing phrase) for one event: ('a loud dog barks twice', 'a loud dog barking twice')."""
    book = PHRASES[event.kind]
    pick = 0 if len(book) == 1 or rng.random() >= RARE_P else 1 + int(rng.integers(len(book) - 1))
    subject, plural, verb, ing = book[pick]
    use_adverb = event.level != "normal" and rng.random() < ADVERB_P
    adj = "" if use_adverb or subject == "someone" else rng.choice(ADJECTIVES[event.level])
    adv = rng.choice(ADVERBS[event.level]) if use_adverb or subject == "someone" else ""
    noun = f"{adj} {subject}".strip()
    if plural is False:  # countable singular: needs an article
        noun = f"{_article(noun)} {noun}"
    tail = " ".join(
        w for w in (rng.choice(COUNT_WORDS[event.count]) if event.count else "", adv) if w
    )
    return f"{noun} {verb} {tail}".strip(), f"{noun} {ing} {tail}".strip()


SINGLE = [
    "{a}",
    "{a_ing} can be heard",
    "the sound of {a_ing}",
    "you can hear {a_ing}",
    "{a_ing} is heard",
]
SEQUENCE = [
    "{a}, then {b}",
    "{a} and then {b}",
    "first {a}, and then {b}",
    "{a} before {b}",
    "after {a}, {b}",
    "{a}, after which {b}",
]
OVERLAP = [
    "{a} while {g}",
    "{a} as {g}",
    "while {g}, {a}",
    "{a} over the sound of {g_ing}",
    "{a} with {g_ing} in the background",
]
TRIPLE = [
    "{a}, then {b}, while {g}",
    "{a} and then {b} while {g}",
    "while {g}, {a} and then {b}",
    "{a} and then {b} with {g_ing} in the background",
    "{a} before {b} as {g}",
    "first {a}, and then {b}, as {g}",
]


def templates_for(scene: Scene) -> List[str]:
    n_fg = len(scene.foreground)
    if scene.background is None:
        return SINGLE if n_fg == 1 else SEQUENCE
    if n_fg == 0:
        return SINGLE
    return OVERLAP if n_fg == 1 else TRIPLE


def fill(template: str, scene: Scene, rng) -> str:
    slots = {}
    events = list(scene.foreground)
    if not events:  # background-only scene uses the single-event templates
        events = [scene.background]
    elif scene.background is not None:
        slots["g"], slots["g_ing"] = phrase(scene.background, rng)
    for name, event in zip("ab", events):
        slots[name], slots[f"{name}_ing"] = phrase(event, rng)
    return template.format(**slots)


def style(caption: str, corpus: str) -> str:
    """Clotho captions are sentences ('A dog barks.'); AudioCaps ones usually lack the period."""
    caption = caption[0].upper() + caption[1:]
    return caption + "." if corpus == "clotho" else caption


def captions_for(scene: Scene, rng, corpus: str = "clotho", n: int = 5) -> List[str]:
    """`n` distinct captions, each from a different template where the book has enough."""
    pool = list(templates_for(scene))
    order = [pool[i] for i in rng.permutation(len(pool))]
    out: List[str] = []
    for attempt in range(50 * n):
        template = order[attempt % len(order)]
        caption = style(fill(template, scene, rng), corpus)
        if caption not in out:
            out.append(caption)
        if len(out) == n:
            return out
    raise RuntimeError(f"cannot make {n} distinct captions for {scene}")
