"""speechgen: deep generative models of speech spectrograms, with Kaldi-style recipes."""

__version__ = "0.1.0"


def load_model(path, checkpoint: str = "best.pt", device: str = "cpu"):
    """A trained model from its exp dir or a packed ``.tar.gz`` (see :mod:`speechgen.api`)."""
    from speechgen.api import load_model as _load

    return _load(path, checkpoint, device)
