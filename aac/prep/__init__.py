"""Stage 1 corpus readers: Clotho v2.1 and AudioCaps v1 into Kaldi-style data dirs.

`CORPORA` maps a corpus name to its reader module; each module has `SPLITS`,
`TRAIN_SPLITS`, `set_name(split)`, `is_present(root, split)` and `read_split(root, split)`.
"""

from aac.prep import audiocaps, clotho
from aac.prep.common import Clip, PrepError, make_clip_ids, write_data_dir, write_utt2dur

CORPORA = {"clotho": clotho, "audiocaps": audiocaps}

__all__ = ["CORPORA", "Clip", "PrepError", "make_clip_ids", "write_data_dir", "write_utt2dur"]
