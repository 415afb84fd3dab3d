"""What ``speechgen-train`` trains on, chosen by the config's ``data`` key (options in ``data_conf``).

A data kind reads a feature dir into the training and validation sets, checks that the model fits
the features, names what ``data.yaml`` records for the later stages, and gives the epoch hooks::

    data: segments          # fixed-size segments (feats.scp, seg2phone, seg2spk): timit_fdnf
    data: frame_windows     # windows of frames around centre frames (feats.scp, ali.scp): timit_logmel
    data_conf: {edge: clamp, windows_per_epoch: null, valid_windows: null, figure_windows: 16}
    data: complex_crops     # crops of complex STFT matrices (feats.scp, stft.yaml): chime_complex
    data_conf: {segment_frames: 64, crops_per_utt: 4}

Adding a kind is one class here, registered in :data:`DATA_KINDS`; its ``__init__`` keywords are its
``data_conf`` keys (checked like every config value).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import torch

from speechgen.data.complex_feats import ComplexSpecDataset, read_stft_config
from speechgen.data.dataset import SegmentDataset
from speechgen.data.tables import Cmvn, read_symbol_table
from speechgen.data.features import SegmentSpecConfig
from speechgen.data.frames import WINDOW_CENTRES, WINDOW_EDGES, FrameWindowDataset, LogMelConfig
from speechgen.data.phones import LOGMEL_PHONES
from speechgen.errors import ConfigError
from speechgen.models.abilities import Reconstructor
from speechgen.models.registry import Registry
from speechgen.train.values import Count
from speechgen.yaml_io import load_yaml


class DataKind:
    """Base of the data kinds; ``load`` is trainer.feats_loading, ``seed`` trainer.seed.

    ``settings_file`` is the file of a feature dir that holds the analysis settings of its features
    (sample rate, window, hop, ...); training copies it into the exp dir, so that a trained model can be
    given new audio without the recipe's folders.
    """

    settings_file = ""
    settings_class: Any = None  # what the settings file holds

    def settings(self, feats_dir: Path) -> Any:
        """The analysis settings of the features of ``feats_dir``, or None without the file."""
        path = feats_dir / self.settings_file
        return self.settings_class(**load_yaml(path.read_text())) if path.is_file() else None

    def datasets(self, train_dir: Path, valid_dir: Optional[Path], cmvn: Cmvn, lang_dir: Optional[Path],
                 model: Any, load: str, seed: int) -> Tuple[Any, Any]:
        """(training set, validation set or None)."""
        raise NotImplementedError

    def check(self, model: Any, train_set: Any, train_dir: Path) -> None:
        """Stop with a ConfigError when the model does not fit the features."""
        expected = tuple(getattr(model, name, None) for name in ("n_frames", "n_bins"))
        shape = getattr(train_set, "shape", None)
        if shape is not None and None not in expected and tuple(shape) != expected:
            raise ConfigError(f"the features in {train_dir} are {shape[0]}x{shape[1]} (frames x bins) but the model "
                              f"expects {expected[0]}x{expected[1]}; set model_conf.n_frames / n_bins")

    def data_info(self, model: Any, train_dir: Path) -> Dict[str, Any]:
        """Keys added to data.yaml (what the later stages need to read features as the model saw them)."""
        return {}

    def epoch_hooks(self, model: Any, cmvn: Cmvn, figure_dir: Optional[Path], lang_dir: Optional[Path],
                    train_dir: Path, seed: int) -> List[Any]:
        return []


DATA_KINDS = Registry("data kind", DataKind)


@DATA_KINDS.register("segments")
class Segments(DataKind):
    """Fixed-size feature segments with their phone and speaker classes (:class:`SegmentDataset`)."""

    settings_file, settings_class = "spec.yaml", SegmentSpecConfig

    def datasets(self, train_dir, valid_dir, cmvn, lang_dir, model, load, seed):
        train = SegmentDataset(train_dir, cmvn, lang_dir, load=load)
        return train, (SegmentDataset(valid_dir, cmvn, lang_dir, load=load) if valid_dir else None)

    def epoch_hooks(self, model, cmvn, figure_dir, lang_dir, train_dir, seed):
        """A reconstructing model's first four training segments and their reconstructions, as a figure and
        as audio, into TensorBoard each epoch."""
        from speechgen.eval.tb_examples import SegmentReconstructionHook

        if not isinstance(model, Reconstructor):
            return []
        data = SegmentDataset(train_dir, cmvn, lang_dir, max_items=4, load="lazy")
        return [SegmentReconstructionHook(torch.stack([data[i]["feats"] for i in range(len(data))]), cmvn,
                                          self.settings(train_dir))]


@DATA_KINDS.register("frame_windows")
class FrameWindows(DataKind):
    """Windows of ``model_conf.n_frames`` frames around centre frames, labelled by the centre frame's phone.

    Args:
        centres: a window around every frame (frames), or around the middle frame of every non-silence
            phone run, as the seed's data preparation makes them (phone_runs).
        edge: windows at utterance edges repeat the edge frame (clamp), are filled with zero frames
            (zero, the seed's padding), or those centres are skipped (drop).
        windows_per_epoch: train on a fresh seeded subset of this many windows each epoch (null: all).
        valid_windows: validate on a fixed subset of this many windows (null: all).
        figure_windows: windows of the per-epoch figures (figures/epoch<N>.png, epochs.gif; 0: none),
            drawn from the first utterances of ``--figure-dir``.
    """

    settings_file, settings_class = "logmel.yaml", LogMelConfig

    def __init__(self, centres: str = "frames", edge: str = "clamp", windows_per_epoch: Optional[int] = None,
                 valid_windows: Optional[int] = None, figure_windows: Count = 16):
        if centres not in WINDOW_CENTRES:
            raise ConfigError(f"data_conf.centres={centres!r}: expected one of {', '.join(WINDOW_CENTRES)}")
        if edge not in WINDOW_EDGES:
            raise ConfigError(f"data_conf.edge={edge!r}: expected one of {', '.join(WINDOW_EDGES)}")
        self.centres, self.edge, self.windows_per_epoch = centres, edge, windows_per_epoch
        self.valid_windows, self.figure_windows = valid_windows, figure_windows

    @staticmethod
    def window(model: Any) -> int:
        window = getattr(model, "n_frames", None)
        if window is None:
            raise ConfigError(f"model {type(model).__name__} has no n_frames, the window length to train on")
        return window

    def datasets(self, train_dir, valid_dir, cmvn, lang_dir, model, load, seed):
        window = self.window(model)
        train = FrameWindowDataset(train_dir, cmvn, window, self.edge, self.windows_per_epoch, seed, load=load,
                                   centres=self.centres)
        valid = (FrameWindowDataset(valid_dir, cmvn, window, self.edge, self.valid_windows, seed, load=load,
                                    centres=self.centres) if valid_dir else None)
        return train, valid

    def data_info(self, model, train_dir):
        return {"window": self.window(model), "edge": self.edge, "centres": self.centres}

    def epoch_hooks(self, model, cmvn, figure_dir, lang_dir, train_dir, seed):
        from speechgen.eval.animation import EpochFigureHook

        if figure_dir is None or self.figure_windows <= 0:
            return []
        figure_set = FrameWindowDataset(figure_dir, cmvn, self.window(model), self.edge)
        centres = figure_set.strip_centres(self.figure_windows)
        names = list(LOGMEL_PHONES)
        if lang_dir is not None and (lang_dir / "phones.txt").is_file():
            table = read_symbol_table(lang_dir / "phones.txt")
            names = [p for p, _ in sorted(table.items(), key=lambda item: item[1])]
        settings = self.settings(train_dir)
        n_mels = settings.n_mels if settings is not None else 40
        return [EpochFigureHook(figure_set.windows(centres), torch.from_numpy(figure_set.labels[centres]), names,
                                cmvn, n_mels=n_mels, seed=seed, settings=settings)]


@DATA_KINDS.register("complex_crops")
class ComplexCrops(DataKind):
    """Crops of complex STFT matrices (:class:`ComplexSpecDataset`): random ones for training, the first
    ``segment_frames`` of each utterance for validation.

    Args:
        segment_frames: frames per crop.
        crops_per_utt: random crops of each training utterance per epoch.
    """

    settings_file = "stft.yaml"

    def __init__(self, segment_frames: int = 64, crops_per_utt: int = 4):
        self.segment_frames, self.crops_per_utt = segment_frames, crops_per_utt

    def datasets(self, train_dir, valid_dir, cmvn, lang_dir, model, load, seed):
        train = ComplexSpecDataset(train_dir, cmvn, self.segment_frames, random_crop=True,
                                   crops_per_utt=self.crops_per_utt, load=load)
        valid = (ComplexSpecDataset(valid_dir, cmvn, self.segment_frames, random_crop=False, load=load)
                 if valid_dir else None)
        return train, valid

    def check(self, model, train_set, train_dir):
        conf = read_stft_config(train_dir)
        model_stft = (getattr(model, "n_fft", conf.n_fft), getattr(model, "hop_length", conf.hop_length))
        if model_stft != (conf.n_fft, conf.hop_length):
            raise ConfigError(f"the features in {train_dir} have n_fft={conf.n_fft}, hop_length={conf.hop_length} "
                              f"but the model has n_fft={model_stft[0]}, hop_length={model_stft[1]}; set model_conf "
                              "to match")
        if getattr(model, "n_bins", train_set.n_bins) != train_set.n_bins:
            raise ConfigError(f"the features in {train_dir} have {train_set.n_bins} bins but the model "
                              f"n_bins={model.n_bins}; set model_conf.n_bins")

    def data_info(self, model, train_dir):
        return {"segment_frames": self.segment_frames, "crops_per_utt": self.crops_per_utt,
                "stft": read_stft_config(train_dir).to_dict()}

    def epoch_hooks(self, model, cmvn, figure_dir, lang_dir, train_dir, seed):
        """The centre crops of the first four utterances (of ``figure_dir``, else of the training set)
        and their decoding, as a figure and as audio, into TensorBoard each epoch."""
        from speechgen.eval.tb_examples import ComplexReconstructionHook

        source = figure_dir or train_dir
        data = ComplexSpecDataset(source, cmvn, self.segment_frames, random_crop=False, load="lazy")
        items = [data[i] for i in range(min(4, len(data.keys)))]
        return [ComplexReconstructionHook(torch.stack([x["feats"] for x in items]),
                                          torch.stack([x["phase"] for x in items]), cmvn, read_stft_config(source))]
