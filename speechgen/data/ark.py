"""Writing Kaldi ark/scp pairs whose scp reads from any working directory.

Kaldi resolves an scp's ark paths against the working directory of the reader, so an scp written
with relative paths inside a recipe folder cannot be read from anywhere else (a notebook, another
recipe, ``speechgen.load_model``). Every ark the project writes is therefore named by its absolute
path in the scp.
"""
from __future__ import annotations

from pathlib import Path

import kaldiio


def ark_writer(ark: str | Path, scp: str | Path) -> kaldiio.WriteHelper:
    """A ``kaldiio.WriteHelper`` writing matrices to ``ark`` and their absolute locations to ``scp``."""
    return kaldiio.WriteHelper(f"ark,scp:{Path(ark).resolve()},{scp}")
