"""speechgen-score: PESQ-WB, PESQ-NB, STOI, SI-SDR and log-spectral distance of decoded audio.

    speechgen-score DECODE_DIR [DECODE_DIR ...] [--wav-scp data/test/wav.scp] [--jobs 2]

Each DECODE_DIR is an output of speechgen-decode-complex (``decode.json`` + ``audio/``); its files are
scored against the original utterances into ``DECODE_DIR/scores.csv``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from speechgen.bin import command
from speechgen.eval.speech_scores import condition_label, score_decode_dirs, summarize


@command("speechgen-score")
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="speechgen-score",
                                description="Score decoded audio (decode.json) against the originals into "
                                            "DECODE_DIR/scores.csv.")
    p.add_argument("decode_dirs", type=Path, nargs="+")
    p.add_argument("--wav-scp", type=Path, default=None,
                   help="originals (default: wav.scp of the feature dir named in decode.json)")
    p.add_argument("--jobs", type=int, default=2, help="parallel scoring processes")
    args = p.parse_args(argv)
    began = time.time()
    scored = score_decode_dirs(args.decode_dirs, args.wav_scp, args.jobs)
    for decode_dir, rows in scored.items():
        for condition, stats in summarize(rows).items():
            print(f"{decode_dir.name}: {condition_label(condition)}: PESQ-WB {stats['pesq_wb'][0]:.3f}, "
                  f"STOI {stats['stoi'][0]:.3f} ({stats['pesq_wb'][2]} utterances)")
    print(f"{sum(len(r) for r in scored.values())} files of {len(scored)} dirs scored in "
          f"{time.time() - began:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
