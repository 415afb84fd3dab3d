"""speechgen: deep generative models of speech spectrograms, with Kaldi-style recipes."""

__version__ = "0.1.0"
