"""common.text's table of combining marks, built from Unicode's first two planes only, holds
every combining mark of the Unicode version this Python knows."""

from __future__ import annotations

import sys
import unicodedata

from common import text


def test_no_character_beyond_the_scanned_planes_has_a_combining_class() -> None:
    beyond = [
        cp
        for cp in range(text.COMBINING_PLANES_END, sys.maxunicode + 1)
        if unicodedata.combining(chr(cp))
    ]
    assert beyond == [], f"Unicode {unicodedata.unidata_version}: scan up to {max(beyond):#x}"


def test_fold_removes_a_combining_mark_of_the_second_plane() -> None:
    # U+1E94A ADLAM NUKTA, the last combining mark of Unicode 14, after an Adlam letter.
    assert text.fold("\U0001e900\U0001e94a") == "\U0001e922"
