"""The official encoder checkpoints of the paper's rows: the one table of names, files,
URLs, mirrors and pinned hashes (`aac-download-encoder --list` prints it; README's table
is checked against it by tests/test_official_encoders.py).

Pins: no publisher of these files states a SHA-256 on its own page. Each entry's `pin`
holds what public sources agree on (a Hugging Face / Git-LFS SHA-256 and size, a Zenodo
MD5 quoted in code that downloads the file) and `pin.source` says where it comes from.
`aac.prep.encoder_weights` checks every download (from the official URL or a mirror)
against it before the file is put in place; a file without a SHA-256 pin gets its
SHA-256 recorded at first download in `<dir>/SHA256SUMS`, marked unverified wherever it
is reported.

URLs are tried in order: the official link first, then the mirrors. `by_hand` is a page
that needs a browser (OneDrive), named in the message when no URL gives the file.

Data only, outside `aac.encoders` on purpose: the recipes' option routing reads it
without paying for a PyTorch import.
"""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from aac.zenodo import file_url

# The BEATs release (github.com/microsoft/unilm/tree/master/beats) linked its checkpoints
# on this blob container, with a read-only access signature that expires in 2033; users
# report 403 answers from it (microsoft/unilm issues 1492 and 1671).
BEATS_BLOB = (
    "https://valle.blob.core.windows.net/share/BEATs/{name}?sv=2020-08-04"
    "&st=2023-03-01T07%3A51%3A05Z&se=2033-03-02T07%3A51%3A00Z&sr=c&sp=rl"
    "&sig=QJXmSJG9DbMKf48UDIU1MfzIro8HQOf3sqlNXiflY1I%3D"
)
HF_LPEPINO = "https://huggingface.co/lpepino/beats_ckpts/resolve/main/{name}"
HF_BENCR = "https://huggingface.co/datasets/Bencr/beats-checkpoints/resolve/main/{name}"
DCASE23_LFS = (  # the baseline repository's Git-LFS copy, before it moved to Zenodo
    "https://media.githubusercontent.com/media/felixgontier/dcase-2023-baseline/"
    "af0ffce348a4c867658acf955e4d639e64ca1438/audio_encoder.pth"
)
MIRROR_ENV = "AAC_ENCODER_MIRROR"  # base URL that replaces every official URL (tests, mirrors)
RECORDED = "recorded at first download"
UNVERIFIED = "unverified (recorded at first download)"
MIN_CHECKPOINT_BYTES = 1 << 20  # without a size pin: smaller is no encoder checkpoint


@dataclass(frozen=True)
class Pin:
    """What the file must be; None where no public source states it."""

    sha256: Optional[str] = None
    size: Optional[int] = None
    md5: Optional[str] = None
    source: str = ""  # where these values come from

    def text(self) -> str:
        """The README's / --list's hash column."""
        if self.sha256:
            return self.sha256
        return f"MD5 {self.md5}" if self.md5 else RECORDED


@dataclass(frozen=True)
class OfficialCheckpoint:
    name: str  # what `aac-download-encoder NAME` takes
    encoder: str  # registry name in aac.encoders.ENCODERS
    filename: str  # the official file name, kept as is on disk
    urls: Tuple[str, ...]  # official link(s), tried first
    sample_rate: int
    paper_row: str  # which paper row uses it ("" for none)
    pin: Pin = Pin()
    mirrors: Tuple[str, ...] = ()  # tried in order after `urls`, checked against the same pin
    by_hand: str = ""  # a page that needs a browser, named when no URL works
    archive_member: Optional[str] = None  # the URL serves an archive holding this file

    @property
    def all_urls(self) -> Tuple[str, ...]:
        return self.urls + self.mirrors


_BEATS_PIN_SOURCE = (
    "SHA-256 and size that public code pins for the file of the BEATs README's {link} link"
    "{extra} (Microsoft publishes no hash)"
)

OFFICIAL = {
    c.name: c
    for c in (
        OfficialCheckpoint(
            "pann_cnn14_16k",
            "pann_cnn14_16k",
            "Cnn14_16k_mAP=0.438.pth",
            (file_url(3987831, "Cnn14_16k_mAP=0.438.pth"),),
            16000,
            "Table 1 row 1: PANN MLAC",
            Pin(
                md5="362fc5ff18f1d6ad2f6d464b45893f2c",
                source="Zenodo 3987831's MD5 of the file, quoted in public code that downloads it",
            ),
        ),
        OfficialCheckpoint(
            "pann_cnn14",
            "pann_cnn14",
            "Cnn14_mAP=0.431.pth",
            (file_url(3987831, "Cnn14_mAP=0.431.pth"),),
            32000,
            "",
            Pin(
                md5="541141fa2ee191a88f24a3219fff024e",
                size=327428481,
                source="Zenodo 3987831's MD5 and size of the file, quoted in public code "
                "that downloads it",
            ),
        ),
        OfficialCheckpoint(
            "dcase23_cnn14",
            "dcase23_cnn14",
            "audio_encoder.pth",
            (file_url(7752975, "audio_encoder.pth"),),
            44100,
            "Table 1 row 2: PANN MLAC+ATCL (DCASE 2023 task 6 baseline encoder); Table 2",
            Pin(
                sha256="2268f4a6a7fa8920a88145e42a63740247417114ac12cae21db7641fcb019ed3",
                size=321244196,
                source="Git-LFS pointer of audio_encoder.pth in "
                "github.com/felixgontier/dcase-2023-baseline (commit af0ffce3), before the "
                "file moved to zenodo 7752975",
            ),
            mirrors=(DCASE23_LFS,),
        ),
        OfficialCheckpoint(
            "beats_as2m",
            "beats",
            "BEATs_iter3_plus_AS2M.pt",
            (BEATS_BLOB.format(name="BEATs_iter3_plus_AS2M.pt"),),
            16000,
            "Table 1 row 3: BEATs MALM",
            Pin(
                sha256="d43cbfad4d7b56381c061d7a24774f908d4d94c72961f6eb1d9090ff18cd8d34",
                size=361499833,
                source=_BEATS_PIN_SOURCE.format(
                    link="BEATs_iter3+ (AS2M)",
                    extra=", the same as the Hugging Face LFS hash of the lpepino/beats_ckpts "
                    "and datasets/Bencr/beats-checkpoints copies",
                ),
            ),
            mirrors=tuple(
                m.format(name="BEATs_iter3_plus_AS2M.pt") for m in (HF_LPEPINO, HF_BENCR)
            ),
            by_hand="https://1drv.ms/u/s!AqeByhGUtINrgcpke6_lRSZEKD5j2Q?e=A3FpOf",
        ),
        OfficialCheckpoint(
            "beats_as2m_cpt1",
            "beats",
            "BEATs_iter3_plus_AS2M_finetuned_on_AS2M_cpt1.pt",
            (BEATS_BLOB.format(name="BEATs_iter3_plus_AS2M_finetuned_on_AS2M_cpt1.pt"),),
            16000,
            "Table 1 row 4: BEATs MALM+MLAC; Table 2",
            Pin(
                sha256="7f9362028ac6e5c049e8dc314d87e90e4f82a15a8e472deb56af55d7f9b34d6a",
                size=363145291,
                source=_BEATS_PIN_SOURCE.format(
                    link="Fine-tuned BEATs_iter3+ (AS2M) (cpt1) OneDrive", extra=""
                ),
            ),
            by_hand="https://1drv.ms/u/s!AqeByhGUtINrgcpoZecQbiXeaUjN8A?e=DasbeC",
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
    """The URLs to try, in order: `$AAC_ENCODER_MIRROR/<remote file name>` when that is set
    (a local mirror, or the tests' server), else the official ones and then the mirrors."""
    mirror = (environ if environ is not None else os.environ).get(MIRROR_ENV, "").strip()
    if mirror:
        remote = urllib.parse.unquote(urllib.parse.urlsplit(entry.urls[0]).path.rsplit("/", 1)[1])
        return (mirror.rstrip("/") + "/" + urllib.parse.quote(remote),)
    return entry.all_urls
