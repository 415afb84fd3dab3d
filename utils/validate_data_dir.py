#!/usr/bin/env python3
"""Recipe helper: `utils/validate_data_dir.py [--check-audio] data/train` (see speechgen.bin.validate_data_dir)."""
import sys
from pathlib import Path

# Let recipes call it through their utils/ symlink even when speechgen is not installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from speechgen.bin.validate_data_dir import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
