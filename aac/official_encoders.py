"""The official encoder checkpoints of the paper's rows: the one table of names, files,
URLs and hashes (`aac-download-encoder --list` prints it; README's table is checked
against it by tests/test_official_encoders.py).

Hashes: no publisher of these files states a SHA-256. Where an MD5 of the file is quoted
in public code that downloads it from the same record, it is kept in `md5` (with where it
comes from) and checked. Every entry's `sha256` is None ("recorded at first download"):
the first successful download prints the file's SHA-256 and records it in
`<dir>/SHA256SUMS`; later downloads, and every use through `aac-download-encoder`
(recipe stage 0), verify the file against that record. Fill in `sha256` here once a
maintainer has checked a download, and it is verified from the first download on.

Data only, outside `aac.encoders` on purpose: the recipes' option routing reads it
without paying for a PyTorch import.
"""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

ZENODO_FILE = "https://zenodo.org/records/{record}/files/{name}?download=1"
# The BEATs release (github.com/microsoft/unilm/tree/master/beats) links its checkpoints on
# this blob container with a read-only access signature that expires in 2033.
BEATS_BLOB = (
    "https://valle.blob.core.windows.net/share/BEATs/{name}?sv=2020-08-04"
    "&st=2023-03-01T07%3A51%3A05Z&se=2033-03-02T07%3A51%3A00Z&sr=c&sp=rl"
    "&sig=QJXmSJG9DbMKf48UDIU1MfzIro8HQOf3sqlNXiflY1I%3D"
)
MIRROR_ENV = "AAC_ENCODER_MIRROR"  # base URL that replaces every official URL (tests, mirrors)
RECORDED = "recorded at first download"


@dataclass(frozen=True)
class OfficialCheckpoint:
    name: str  # what `aac-download-encoder NAME` takes
    encoder: str  # registry name in aac.encoders.ENCODERS
    filename: str  # the official file name, kept as is on disk
    urls: Tuple[str, ...]  # tried in order
    sample_rate: int
    paper_row: str  # which paper row uses it ("" for none)
    sha256: Optional[str] = None  # None: recorded at first download (see the docstring)
    md5: Optional[str] = None
    md5_source: str = ""
    archive_member: Optional[str] = None  # the URL serves an archive holding this file

    @property
    def sha256_text(self) -> str:
        return self.sha256 or RECORDED


def _zenodo(record: int, name: str) -> str:
    return ZENODO_FILE.format(record=record, name=name.replace("=", "%3D"))


OFFICIAL = {
    c.name: c
    for c in (
        OfficialCheckpoint(
            "pann_cnn14_16k",
            "pann_cnn14_16k",
            "Cnn14_16k_mAP=0.438.pth",
            (_zenodo(3987831, "Cnn14_16k_mAP=0.438.pth"),),
            16000,
            "Table 1 row 1: PANN MLAC",
            md5="362fc5ff18f1d6ad2f6d464b45893f2c",
            md5_source="quoted in public code that downloads it from zenodo 3987831",
        ),
        OfficialCheckpoint(
            "pann_cnn14",
            "pann_cnn14",
            "Cnn14_mAP=0.431.pth",
            (_zenodo(3987831, "Cnn14_mAP=0.431.pth"),),
            32000,
            "",
            md5="541141fa2ee191a88f24a3219fff024e",
            md5_source="quoted in public code that downloads it from zenodo 3987831",
        ),
        OfficialCheckpoint(
            "dcase23_cnn14",
            "dcase23_cnn14",
            "audio_encoder.pth",
            (_zenodo(7752975, "audio_encoder.pth"),),
            44100,
            "Table 1 row 2: PANN MLAC+ATCL (DCASE 2023 task 6 baseline encoder); Table 2",
        ),
        OfficialCheckpoint(
            "beats_as2m",
            "beats",
            "BEATs_iter3_plus_AS2M.pt",
            (BEATS_BLOB.format(name="BEATs_iter3_plus_AS2M.pt"),),
            16000,
            "Table 1 row 3: BEATs MALM",
        ),
        OfficialCheckpoint(
            "beats_as2m_cpt1",
            "beats",
            "BEATs_iter3_plus_AS2M_finetuned_on_AS2M_cpt1.pt",
            (BEATS_BLOB.format(name="BEATs_iter3_plus_AS2M_finetuned_on_AS2M_cpt1.pt"),),
            16000,
            "Table 1 row 4: BEATs MALM+MLAC; Table 2",
        ),
    )
}


def official_checkpoint(name: str) -> OfficialCheckpoint:
    """Entry by its name or by its official file name; KeyError lists the known names."""
    if name in OFFICIAL:
        return OFFICIAL[name]
    for entry in OFFICIAL.values():
        if entry.filename == name:
            return entry
    raise KeyError(f"unknown official checkpoint {name!r} (known: {', '.join(OFFICIAL)})")


def download_urls(entry: OfficialCheckpoint, environ: Optional[Dict[str, str]] = None):
    """The URLs to try: `$AAC_ENCODER_MIRROR/<remote file name>` when that is set (a local
    mirror, or the tests' server), else the official ones."""
    mirror = (environ if environ is not None else os.environ).get(MIRROR_ENV, "").strip()
    if mirror:
        remote = urllib.parse.unquote(urllib.parse.urlsplit(entry.urls[0]).path.rsplit("/", 1)[1])
        return (mirror.rstrip("/") + "/" + urllib.parse.quote(remote),)
    return entry.urls
