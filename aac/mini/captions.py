"""Human-like captions for synthetic scenes.

A scene is up to two foreground events in sequence plus an optional background event.
Each event becomes a clause ("a dog barks twice in the distance") from a small phrase
book with synonyms; templates then join clauses by order ("then", "followed by") or
overlap ("while", "as", "in the background"). Five captions per clip use five different
templates, so the references differ in wording but agree in content, like Clotho's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

# kind -> (subject, plural, verb 3rd person, verb -ing), synonyms drawn at random.
PHRASES = {
    "siren": [
        ("siren", False, "wails", "wailing"),
        ("siren", False, "blares", "blaring"),
        ("emergency siren", False, "sounds", "sounding"),
        ("police siren", False, "wails", "wailing"),
    ],
    "bell": [
        ("bell", False, "rings", "ringing"),
        ("church bell", False, "chimes", "chiming"),
        ("bell", False, "tolls", "tolling"),
    ],
    "beep": [
        ("machine", False, "beeps", "beeping"),
        ("alarm", False, "beeps", "beeping"),
        ("electronic device", False, "beeps repeatedly", "beeping repeatedly"),
    ],
    "knock": [
        ("someone", None, "knocks on a door", "knocking on a door"),
        ("person", False, "knocks on a door", "knocking on a door"),
        ("someone", None, "knocks on wood", "knocking on wood"),
    ],
    "footsteps": [
        ("footsteps", True, "approach", "approaching"),
        ("person", False, "walks closer", "walking closer"),
        ("footsteps", True, "come closer", "coming closer"),
    ],
    "birds": [
        ("birds", True, "chirp", "chirping"),
        ("birds", True, "sing", "singing"),
        ("small bird", False, "tweets", "tweeting"),
    ],
    "dog": [("dog", False, "barks", "barking"), ("small dog", False, "barks", "barking")],
    "horn": [
        ("car horn", False, "honks", "honking"),
        ("vehicle", False, "honks its horn", "honking its horn"),
        ("horn", False, "blows", "blowing"),
    ],
    "rain": [
        ("rain", None, "falls", "falling"),
        ("rain", None, "pours down", "pouring down"),
        ("raindrops", True, "patter", "pattering"),
    ],
    "wind": [
        ("wind", None, "blows", "blowing"),
        ("wind", None, "howls", "howling"),
        ("strong wind", None, "gusts", "gusting"),
    ],
    "engine": [
        ("car engine", False, "idles", "idling"),
        ("engine", False, "rumbles", "rumbling"),
        ("motor", False, "runs", "running"),
    ],
    "water": [
        ("water", None, "bubbles", "bubbling"),
        ("stream", False, "flows", "flowing"),
        ("water", None, "trickles", "trickling"),
    ],
    "music": [
        ("music", None, "plays", "playing"),
        ("melody", False, "plays", "playing"),
        ("tune", False, "plays", "playing"),
    ],
}
FOREGROUND = ("siren", "bell", "beep", "knock", "footsteps", "birds", "dog", "horn")
BACKGROUND = ("rain", "wind", "engine", "water", "music")
COUNTED = ("knock", "dog")  # kinds whose number of repetitions is an attribute
LEVELS = ("loud", "normal", "distant")

ADJECTIVES = {"loud": ["loud"], "distant": ["distant", "faint"], "normal": [""]}
ADVERBS = {"loud": ["loudly"], "distant": ["in the distance", "far away"], "normal": [""]}
COUNT_WORDS = {2: ["twice", "two times"], 3: ["three times", "a few times"]}


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
    subject, plural, verb, ing = PHRASES[event.kind][rng.integers(len(PHRASES[event.kind]))]
    use_adverb = event.level != "normal" and rng.random() < 0.5
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
    "{a_ing} is followed by {b_ing}",
    "after {a}, {b}",
    "{a}, after which {b}",
]
OVERLAP = [
    "{a} while {g}",
    "{a} as {g}",
    "{g} and {a}",
    "{a} over the sound of {g_ing}",
    "{a} with {g_ing} in the background",
    "while {g}, {a}",
]
TRIPLE = [
    "{a}, then {b}, while {g}",
    "{g} as {a} and then {b}",
    "while {g}, {a} and then {b}",
    "{a_ing} is followed by {b_ing} while {g}",
    "{a} and then {b} with {g_ing} in the background",
    "{a} before {b} as {g}",
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
