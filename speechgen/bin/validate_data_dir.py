"""speechgen-validate-data-dir: check Kaldi data dirs, exiting 1 with the first problem found.

    speechgen-validate-data-dir [--check-audio] DATA_DIR [DATA_DIR ...]
"""
from __future__ import annotations

import argparse
import sys

from speechgen.bin import command
from speechgen.data.validate import validate_data_dir
from speechgen.errors import DataError


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="validate_data_dir.py",
        description=(
            "Check that a Kaldi data dir (wav.scp, utt2spk, spk2utt; text, spk2gender, phones, phone_segments, "
            "seg2phone, seg2spk when present) is sorted in C order, has unique keys, agrees across files "
            "and points at existing audio."
        ),
    )
    parser.add_argument("data_dirs", nargs="+", metavar="DATA_DIR", help="data dir(s) to check")
    parser.add_argument("--check-audio", action="store_true",
                        help="also read each wav header and check phones and segments end within the audio")
    return parser


@command("speechgen-validate-data-dir")
def main(argv: list[str] | None = None) -> int:
    """Validate each dir; 0 when all pass, 1 with the message on stderr otherwise."""
    args = build_parser().parse_args(argv)
    for data_dir in args.data_dirs:
        try:
            counts = validate_data_dir(data_dir, check_audio=args.check_audio)
        except DataError as err:
            print(f"validate_data_dir.py: error: {err}", file=sys.stderr)
            return 1
        print(f"validate_data_dir.py: {data_dir} OK ({counts['utterances']} utterances, "
              f"{counts['speakers']} speakers, {counts['segments']} segments)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
