"""Zenodo addresses, in the one form the toolkit uses.

Zenodo moved to InvenioRDM in October 2023: a record lives at `/records/<id>` and a file at
`/records/<id>/files/<name>?download=1` (the old `/record/<id>` form only redirects there).
"""

from __future__ import annotations

import urllib.parse

RECORD_PAGE = "https://zenodo.org/records/{record}"
FILE_URL = RECORD_PAGE + "/files/{name}?download=1"


def record_page(record) -> str:
    return RECORD_PAGE.format(record=record)


def file_url(record, name: str) -> str:
    """Download URL of `name` in `record`; the name is percent-quoted (`=` -> `%3D`)."""
    return FILE_URL.format(record=record, name=urllib.parse.quote(name))
