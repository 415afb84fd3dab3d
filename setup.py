"""speechgen: recipes and modules for deep generative models of speech spectrograms."""
from setuptools import Extension, find_packages, setup

STAGES = {
    "make-synth": "speechgen.bin.make_synth:main",
    # every recipe's stage 0: any corpus kind -> Kaldi data dirs
    "prepare-data": "speechgen.bin.prepare_data:main",
    "validate-data-dir": "speechgen.bin.validate_data_dir:main",
    "perturb-speed": "speechgen.bin.perturb_speed:main",
    "compute-feats": "speechgen.bin.compute_feats:main",
    "compute-cmvn": "speechgen.bin.compute_cmvn:main",
    "train": "speechgen.bin.train:main",
    "encode": "speechgen.bin.encode:main",
    "plot-tsne": "speechgen.bin.plot_tsne:main",
    "manipulate": "speechgen.bin.manipulate:main",
    "make-results": "speechgen.bin.make_results:main",
    # any recipe's trained model, outside the recipe
    "pack": "speechgen.bin.pack:main",
    "convert": "speechgen.bin.convert:main",
    "resynth": "speechgen.bin.resynth:main",
    # egs/timit_logmel
    "compute-logmel": "speechgen.bin.compute_logmel:main",
    "eval-logmel": "speechgen.bin.eval_logmel:main",
    "make-logmel-results": "speechgen.bin.make_logmel_results:main",
    # egs/chime_complex
    "compute-stft": "speechgen.bin.compute_stft:main",
    "decode-complex": "speechgen.bin.decode_complex:main",
    "score": "speechgen.bin.score_decodes:main",
    "complex-results": "speechgen.bin.complex_results:main",
    "make-page": "speechgen.bin.make_page:main",
}

REQUIRES = [
    # torch is installed first and pinned by tools/install.sh; a bare range here would pull CUDA wheels.
    "torch>=2.0",
    "kaldiio>=2.18",
    "numpy>=1.24",
    "scipy>=1.10",
    "soundfile>=0.12",
    "pyyaml>=6.0",
    "tqdm>=4.60",
    "matplotlib>=3.7",
    "scikit-learn>=1.3",
    # training curves and figures for `tensorboard --logdir exp` (speechgen.train.tensorboard_log)
    "tensorboard>=2.10",
    # Praat TextGrids (the Montreal Forced Aligner's alignments) of --corpus wavdir/librispeech
    "praatio>=6.0",
]

EXTRAS = {
    # offline eSpeak NG (library + data) for the embedded synthetic corpus
    "synth": ["espeakng-loader>=0.2"],
    # objective speech metrics
    "metrics": ["pesq>=0.0.4", "pystoi>=0.4"],
    # --corpus lhotse (manifests of lhotse's many corpus recipes); installs next to the pinned torch
    "lhotse": ["lhotse>=1.20"],
    # pytest; and Kaldi's fbank (no torch needed), the reference the log-mel features are tested against
    "test": ["pytest>=7", "kaldi-native-fbank>=1.18"],
    # benchmark peers only, never imported by the library
    "bench": ["librosa>=0.10"],
}
EXTRAS["all"] = sorted({pkg for group in EXTRAS.values() for pkg in group})

setup(
    name="speechgen",
    version="0.1.0",
    description="Kaldi-style recipes for deep generative models of speech spectrograms",
    packages=find_packages(include=["speechgen", "speechgen.*"]),
    package_data={"speechgen": ["data/resources/*"]},
    python_requires=">=3.9",
    install_requires=REQUIRES,
    extras_require=EXTRAS,
    # the phase integrator of PGHI and of the complex VAE (speechgen.signal.phase_retrieval):
    # plain C on Python's C API, no numpy headers
    ext_modules=[Extension("speechgen.signal._maxtree", ["speechgen/signal/_maxtree.c"],
                           extra_compile_args=["-O2"])],
    entry_points={"console_scripts": [f"speechgen-{k}={v}" for k, v in STAGES.items()]},
)
