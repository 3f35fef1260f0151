"""Install the caption-metric assets (Java programs, models) into the aac-metrics cache.

    aac-install-metric-assets [--cache-dir DIR] [--offline] [--spice-corenlp-dir DIR] [--fense-dir DIR]

Online, this runs aac-metrics' own download. Offline (or when github.com is unreachable)
it builds the cache from the `pycocoevalcap` wheel fetched with pip from PyPI: PTB
tokenizer, METEOR and SPICE without CoreNLP 3.6.0. CoreNLP 3.6.0 (SPICE) and the FENSE
models (SPIDEr-FL, FENSE) then come from directories the user gives. Ends with a table of
which metrics can run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aac.cli import run_main
from aac.metrics import assets
from aac.metrics.scoring import METRIC_NEEDS


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="aac-install-metric-assets",
        description="Reads: PyPI (pycocoevalcap wheel) or the aac-metrics download sources, "
        "optional --spice-corenlp-dir/--fense-dir. Writes: the aac-metrics cache dir "
        "(aac-metrics/{stanford_nlp,meteor,spice,fense_data,wheels}/).",
    )
    p.add_argument(
        "--cache-dir", help=f"cache dir (default: ${assets.CACHE_ENV} or aac-metrics' default)"
    )
    p.add_argument("--offline", action="store_true", help="never try the aac-metrics download")
    p.add_argument(
        "--wheel", type=Path, help="use this pycocoevalcap-1.2 wheel instead of pip download"
    )
    p.add_argument(
        "--spice-corenlp-dir",
        type=Path,
        help="dir (or zip) with stanford-corenlp-3.6.0.jar and -models.jar for SPICE",
    )
    p.add_argument(
        "--fense-dir",
        type=Path,
        help=f"dir with {assets.ECHECKER_CKPT} and a Hugging Face hub/ folder",
    )
    p.add_argument("--java", help=f"java executable (default: ${assets.JAVA_ENV} or java)")
    return p


def report(cache: Path, java: str) -> int:
    """Print metric -> ok / reason; returns how many metrics can run."""
    status = assets.asset_status(cache, java)
    print(f"java: {assets.java_version(java)}")
    print(f"cache: {cache}")
    ok = 0
    for metric, needs in METRIC_NEEDS.items():
        reasons = [status[g] for g in needs if status[g]]
        ok += not reasons
        print(f"  {metric:10s} {'ok' if not reasons else 'unavailable: ' + reasons[0]}")
    return ok


def _main(argv) -> int:
    args = get_parser().parse_args(argv)
    cache = assets.resolve_cache_dir(args.cache_dir)
    java = assets.resolve_java(args.java)
    online = not args.offline and args.wheel is None and assets.network_reachable()
    if online:
        try:
            assets.install_online(cache)
        except Exception as err:  # noqa: BLE001 -- any download failure: fall back
            print(f"aac-metrics download failed ({err}); using the PyPI wheel", file=sys.stderr)
            online = False
    if not online:
        wheel = assets.fetch_wheel(cache / "aac-metrics" / "wheels", args.wheel)
        written = assets.install_from_wheel(cache, wheel)
        print(f"installed {len(written)} files from {wheel.name} into {cache}")
    if args.spice_corenlp_dir:
        assets.install_corenlp(cache, args.spice_corenlp_dir)
    if args.fense_dir:
        assets.install_fense(cache, args.fense_dir)
    report(cache, java)
    return 0


def main(argv=None) -> int:
    return run_main("aac-install-metric-assets", _main, argv)


if __name__ == "__main__":
    sys.exit(main())
