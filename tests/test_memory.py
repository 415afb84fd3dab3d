"""speechgen.memory: the allocator keeps freed blocks of some MiB (glibc), and bad settings are one line."""
import json
import os
import platform
import subprocess
import sys

import pytest

from speechgen.bin import command
from speechgen.errors import ConfigError
from speechgen.memory import keep_freed_memory

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# allocates and frees a 20 MiB block through malloc, and reports where glibc put it (mallinfo2(3))
PROBE = r"""
import ctypes, json
from speechgen.memory import keep_freed_memory
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks "
                                              "fordblks keepcost").split()]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype, libc.malloc.restype = Info, ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
kept = keep_freed_memory()
block = libc.malloc(20 << 20)
mapped = libc.mallinfo2().hblkhd
libc.free(block)
print(json.dumps(dict(kept=kept, mapped=mapped, free_in_heap=libc.mallinfo2().fordblks)))
"""


def _probe(mode):
    env = dict(os.environ, SPEECHGEN_MALLOC=mode)
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout)


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc")
def test_kept_memory_stays_in_the_heap_and_glibc_mode_maps_it():
    kept, default = _probe("kept"), _probe("glibc")
    assert kept["kept"] is True and default["kept"] is False
    # glibc's default: a 20 MiB block is mapped on its own and unmapped when freed
    assert default["mapped"] >= 20 << 20 and default["free_in_heap"] < 20 << 20
    # kept: it comes from the heap and stays there once freed, ready for the next step
    assert kept["mapped"] < 20 << 20 and kept["free_in_heap"] >= 20 << 20


def test_an_unknown_malloc_mode_is_one_line_naming_the_variable(monkeypatch, capsys):
    monkeypatch.setenv("SPEECHGEN_MALLOC", "jemalloc")
    with pytest.raises(ConfigError, match="SPEECHGEN_MALLOC=jemalloc: expected kept"):
        keep_freed_memory()

    @command("speechgen-x")
    def main(argv=None):
        return 0

    assert main([]) == 1
    assert capsys.readouterr().err == ("speechgen-x: error: SPEECHGEN_MALLOC=jemalloc: expected kept (the default) "
                                       "or glibc\n")
