"""Corpus CSVs made elsewhere: a huge single line or field is refused with one error
naming the file, never read whole."""

import pytest

from aac.limits import LINE_CHARS
from aac.prep import audiocaps, clotho
from aac.prep.common import PrepError


def clotho_root(tmp_path, body: str):
    clotho.audio_dir(tmp_path, "development").mkdir(parents=True)
    csv = clotho.captions_csv(tmp_path, "development")
    csv.parent.mkdir(parents=True)
    csv.write_text("file_name,caption_1,caption_2,caption_3,caption_4,caption_5\n" + body)
    return tmp_path


def audiocaps_root(tmp_path, body: str):
    audiocaps.audio_dir(tmp_path, "train").mkdir(parents=True)
    csv = audiocaps.captions_csv(tmp_path, "train")
    csv.parent.mkdir(parents=True)
    csv.write_text("audiocap_id,youtube_id,start_time,caption\n" + body)
    return tmp_path


def test_clotho_single_line_csv_is_refused(tmp_path):
    root = clotho_root(tmp_path, "a.wav," + "x" * (2 * LINE_CHARS) + ",b,c,d,e\n")
    with pytest.raises(PrepError, match=r"clotho_captions_development.csv:2: line longer") as err:
        clotho.read_split(root, "development")
    assert len(str(err.value)) < 600


def test_audiocaps_single_line_csv_is_refused(tmp_path):
    root = audiocaps_root(tmp_path, "1,yt,30," + "a dog " * LINE_CHARS + "\n")
    with pytest.raises(PrepError, match=r"train.csv:2: line longer"):
        audiocaps.read_split(root, "train")


def test_quoted_field_over_many_lines_is_refused(tmp_path):
    body = '1,yt,30,"' + "a dog barks\n" * 20_000 + '"\n'  # 240 kB in one quoted field
    root = audiocaps_root(tmp_path, body)
    with pytest.raises(PrepError, match=r"train.csv:\d+: unreadable CSV: field larger"):
        audiocaps.read_split(root, "train")


def test_ordinary_csv_still_reads(tmp_path):
    root = audiocaps_root(tmp_path, '1,yt,30,"a dog, barking"\n2,yt,30,rain\n')
    assert audiocaps.read_split(root, "train") == []  # no audio: the clip is counted vanished
