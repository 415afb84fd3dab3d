"""The embedded eSpeak NG corpus (``--corpus synth``), made by ``speechgen-make-synth`` in TIMIT's layout.

Read with the TIMIT reader; speaker numbers are zero-padded (``fsyn3`` -> ``fsyn03`` among 20 speakers)
so that utterance ids sort speaker by speaker as Kaldi requires.
"""
from __future__ import annotations

import re
from dataclasses import replace
from typing import List

from speechgen.corpora.base import Utterance
from speechgen.corpora.timit import TimitCorpus, read_corpus
from speechgen.errors import DataError

LAYOUT = ("made by speechgen-make-synth DIR (the recipes make it when --corpus-path is not given): "
          "DIR/TRAIN/DR<k>/<F|M>SYN<j>/SX<n>.WAV with .PHN .WRD .TXT beside it and DIR/.done")

_SYNTH_SPEAKER = re.compile(r"([fm]syn)(\d+)")


class SynthCorpus(TimitCorpus):
    kind = "synth"
    path_hint = "give a corpus made by speechgen-make-synth, or no --corpus-path to make one"
    layout = LAYOUT

    def utterances(self) -> List[Utterance]:
        root = self.require_dir()
        if not (root / ".done").is_file():
            raise DataError(f"--corpus-path {root}: not a finished synthetic corpus (no .done); make it with "
                            f"speechgen-make-synth {root}, or leave --corpus-path empty for the recipe to make it")
        utts = read_corpus(root)
        width = max(len(m.group(2)) for m in (_SYNTH_SPEAKER.fullmatch(u.spk) for u in utts) if m)
        renamed = []
        for utt in utts:
            match = _SYNTH_SPEAKER.fullmatch(utt.spk)
            spk = f"{match.group(1)}{int(match.group(2)):0{width}d}" if match else utt.spk
            renamed.append(replace(utt, spk=spk, utt_id=spk + utt.utt_id[len(utt.spk):]))
        return sorted(renamed, key=lambda u: u.utt_id)
