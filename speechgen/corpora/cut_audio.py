"""``python -m speechgen.corpora.cut_audio START END ENTRY``: the audio of a wav.scp ENTRY (a file, a pipe or an
extended filename) from START to END seconds (END -1: to its end), as a 16-bit wav on stdout.

The wav.scp pipe of an utterance cut from a longer recording (Kaldi ``segments``, lhotse supervisions);
kept out of the package's imports so that ``-m`` runs it cleanly.
"""
from __future__ import annotations

import io
import sys
from typing import List, Optional

import soundfile as sf

from speechgen.data.audio import read_audio
from speechgen.errors import DataError


def write_cut(start: float, end: float, entry: str, out=None) -> None:
    """Write ``entry``'s audio from ``start`` to ``end`` seconds (-1: its end) to ``out`` as a 16-bit wav."""
    x, sr = read_audio(entry)
    stop = x.shape[0] if end < 0 else min(x.shape[0], round(end * sr))
    buf = io.BytesIO()
    sf.write(buf, x[round(start * sr):stop], sr, subtype="PCM_16", format="WAV")
    (out or sys.stdout.buffer).write(buf.getvalue())


def main(argv: Optional[List[str]] = None) -> int:
    """``START END ENTRY`` -> the cut audio on stdout; a one-line error and status 1 for a bad entry."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        if len(argv) != 3:
            raise DataError("usage: python -m speechgen.corpora.cut_audio START END WAV_SCP_ENTRY")
        write_cut(float(argv[0]), float(argv[1]), argv[2])
    except (DataError, ValueError) as err:
        print(f"speechgen.corpora.cut_audio: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
