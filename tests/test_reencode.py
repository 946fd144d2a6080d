"""music2img.music.reencode: ffmpeg versions of a file, cached; clear errors."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import soundfile as sf
from conftest import synth_music

from music2img.errors import AudioError
from music2img.music.audio import load_audio
from music2img.music.reencode import ENCODINGS, encode, reencoded

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is needed")


@needs_ffmpeg
def test_versions_are_made_once_and_decode(tmp_path):
    src = tmp_path / "song.wav"
    sf.write(src, np.stack([synth_music(3.0, seed=0)] * 2, axis=1), 22050)
    for name in ENCODINGS:
        path = reencoded(src, name, tmp_path / "copies")
        assert path.suffix == ENCODINGS[name].suffix and path.parent.name == name
        assert abs(len(load_audio(path)) - 3.0 * 22050) < 0.1 * 22050
        before = path.stat().st_mtime_ns
        assert reencoded(src, name, tmp_path / "copies") == path and path.stat().st_mtime_ns == before
    assert sf.info(str(reencoded(src, "16khz", tmp_path / "copies"))).samplerate == 16000
    assert sf.info(str(reencoded(src, "mono", tmp_path / "copies"))).channels == 1


@needs_ffmpeg
def test_unreadable_source_is_a_clear_error_and_leaves_nothing(tmp_path):
    src = tmp_path / "broken.mp3"
    src.write_bytes(b"not audio at all")
    with pytest.raises(AudioError, match="ffmpeg could not re-encode .*broken.mp3 as mp3-32k"):
        reencoded(src, "mp3-32k", tmp_path / "copies")
    assert list((tmp_path / "copies").rglob("*")) == [tmp_path / "copies" / "mp3-32k"]


def test_unknown_encoding(tmp_path):
    with pytest.raises(ValueError, match="unknown encoding 'flac'"):
        encode(tmp_path / "a.wav", tmp_path / "b.flac", "flac")
