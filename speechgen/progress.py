"""Progress of the long loops of the stages, readable wherever their output goes.

On a terminal, a tqdm bar; when stderr is a file (a recipe's stage log, a Slurm log) a bar's carriage
returns would garble it, so instead one plain line every ``every`` seconds (and one at the end of a
loop that took that long): ``decoding J6: 12/20 utt (31 s, about 21 s left)``.
"""
from __future__ import annotations

import sys
import time
from typing import Iterable, Iterator, Optional, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(iterable: Iterable[T], desc: str, total: Optional[int] = None, unit: str = "it",
             every: float = 30.0) -> Iterator[T]:
    """Yield the items of ``iterable`` while showing how far the loop has got (see the module doc)."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    if sys.stderr.isatty():
        yield from tqdm(iterable, desc=desc, total=total, unit=unit, leave=False, dynamic_ncols=True)
        return
    start = last = time.monotonic()
    done = 0
    for item in iterable:
        yield item
        done += 1
        now = time.monotonic()
        if now - last >= every or (done == total and now - start >= every):
            last = now
            left = f", about {(now - start) / done * (total - done):.0f} s left" if total and done < total else ""
            of = f"/{total}" if total else ""
            print(f"{desc}: {done}{of} {unit} ({now - start:.0f} s{left})", file=sys.stderr, flush=True)
