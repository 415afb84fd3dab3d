"""The stage scripts that handle tables, features and reports start without importing torch (about 2 s of
CPU per process, and the recipes start dozens of them), and the model scripts without scikit-learn."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: scripts whose work needs no torch; a test fails when one of them starts importing it
TORCH_FREE = ("prepare_data", "compute_feats", "compute_cmvn", "plot_tsne", "make_results", "complex_results",
              "make_page", "score_decodes", "validate_data_dir", "perturb_speed", "make_synth")

#: run in a fresh interpreter as ``PROBE PACKAGE SCRIPT...``: PACKAGE refused at import, each script
#: imported in turn, the names of those that reached for it printed with the speechgen module that did
PROBE = """
import importlib, importlib.abc, sys, traceback

refused = sys.argv[1]

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == refused or name.startswith(refused + "."):
            raise ImportError(refused)

sys.meta_path.insert(0, Refuse())
for name in sys.argv[2:]:
    try:
        importlib.import_module("speechgen.bin." + name)
    except ImportError as err:
        where = [f"{f.filename}:{f.lineno}" for f in traceback.extract_tb(err.__traceback__) if "speechgen" in f.filename]
        print(name, where[-1] if where else err)
"""


def test_table_feature_and_report_scripts_start_without_torch():
    out = subprocess.run([sys.executable, "-c", PROBE, "torch", *TORCH_FREE], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "", f"these scripts import torch at start:\n{out.stdout}"


def test_the_probe_names_a_script_that_imports_torch():
    out = subprocess.run([sys.executable, "-c", PROBE, "torch", "train"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("train ") and "speechgen/" in out.stdout


#: scripts that load models but fit none of scikit-learn's (about 1.7 s of CPU to import on a slow core):
#: speechgen-eval-logmel fits its PCA baselines in the classifier's run only, and imports it there
SKLEARN_FREE = ("train", "encode", "manipulate", "eval_logmel", "decode_complex", "convert")


def test_model_scripts_start_without_scikit_learn():
    out = subprocess.run([sys.executable, "-c", PROBE, "sklearn", *SKLEARN_FREE], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "", f"these scripts import scikit-learn at start:\n{out.stdout}"
