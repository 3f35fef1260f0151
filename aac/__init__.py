"""aac: a recipe toolkit for automated audio captioning.

Audio clip in, one English sentence out. A (pretrained, frozen) audio encoder turns a
waveform into frame features; a BART decoder trained from scratch cross-attends to them.
"""

__version__ = "0.1.0"


def __getattr__(name):
    # Lazy: `import aac` must stay cheap (no torch import) for the data-prep stages.
    if name == "Captioner":
        from aac.captioner import Captioner

        return Captioner
    raise AttributeError(f"module 'aac' has no attribute {name!r}")
