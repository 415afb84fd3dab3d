"""The stage scripts that handle tables, features and reports start without importing torch (about 2 s of
CPU per process, and the recipes start dozens of them)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: scripts whose work needs no torch; a test fails when one of them starts importing it
TORCH_FREE = ("prepare_data", "compute_feats", "compute_cmvn", "plot_tsne", "make_results", "complex_results",
              "make_page", "score_decodes", "validate_data_dir", "perturb_speed", "make_synth")

#: run in a fresh interpreter: torch refused at import, each script imported in turn, the names of those
#: that reached for it printed with the speechgen module that did
PROBE = """
import importlib, importlib.abc, sys, traceback

class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch")

sys.meta_path.insert(0, NoTorch())
for name in sys.argv[1:]:
    try:
        importlib.import_module("speechgen.bin." + name)
    except ImportError as err:
        where = [f"{f.filename}:{f.lineno}" for f in traceback.extract_tb(err.__traceback__) if "speechgen" in f.filename]
        print(name, where[-1] if where else err)
"""


def test_table_feature_and_report_scripts_start_without_torch():
    out = subprocess.run([sys.executable, "-c", PROBE, *TORCH_FREE], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "", f"these scripts import torch at start:\n{out.stdout}"


def test_the_probe_names_a_script_that_imports_torch():
    out = subprocess.run([sys.executable, "-c", PROBE, "train"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("train ") and "speechgen/" in out.stdout


#: scripts that load models but fit none of scikit-learn's (about 1.7 s of CPU to import on a slow core):
#: speechgen-eval-logmel fits its PCA baselines in the classifier's run only, and imports it there
SKLEARN_FREE = ("train", "encode", "manipulate", "eval_logmel", "decode_complex", "convert")


def test_model_scripts_start_without_scikit_learn():
    probe = ("import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module('speechgen.bin.' + name)\n"
             "print(sorted(m for m in sys.modules if m == 'sklearn' or m.startswith('sklearn.')))")
    out = subprocess.run([sys.executable, "-c", probe, *SKLEARN_FREE], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"scikit-learn imported at start: {out.stdout[:300]}"
