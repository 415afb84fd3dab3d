"""Loading a trained experiment dir back: config, weights, normalisation, label tables."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict


from speechgen.data.tables import Cmvn
from speechgen.errors import DataError
from speechgen.train.config import build_model, config_from_dict
from speechgen.train.files import load_weights
from speechgen.yaml_io import load_yaml


def load_experiment(exp_dir: str | Path, checkpoint: str = "best.pt", device: str = "cpu"):
    """Return ``(model, info)`` for a finished experiment dir; the model is in eval mode.

    ``info`` holds the merged config dict, the data paths of ``data.yaml`` and the Cmvn; its ``lang_dir`` is
    the copy of the label tables in EXP_DIR/lang where training saved one.
    """
    exp_dir = Path(exp_dir)
    for name in ("config.yaml", checkpoint, "data.yaml", "cmvn.npz"):
        if not (exp_dir / name).is_file():
            raise DataError(f"{exp_dir / name}: missing; train the model first (or pick another --checkpoint)")
    raw = load_yaml((exp_dir / "config.yaml").read_text())
    exp = config_from_dict(raw, where=str(exp_dir / "config.yaml"), optimiser_checks=False)
    model = build_model(exp)
    load_weights(model, exp_dir / checkpoint, device)
    model.to(device).eval()
    info: Dict[str, Any] = load_yaml((exp_dir / "data.yaml").read_text())
    info["config"] = raw
    info["cmvn"] = Cmvn.load(exp_dir / "cmvn.npz")
    if info.get("lang") and (exp_dir / info["lang"]).is_dir():  # the label tables saved with the model
        info["lang_dir"] = str(exp_dir / info["lang"])
    return model, info
