import json

import kaldiio
import numpy as np
import pytest

from speechgen.errors import DataError
from speechgen.eval.tsne import load_codes, named_classes, plot_tsne_grid, scatter_classes, subsample


def write_codes(d, n=30, dim=6):
    d.mkdir()
    rng = np.random.default_rng(0)
    keys = [f"u{i:03d}" for i in range(n)]
    with kaldiio.WriteHelper(f"ark,scp:{d / 'codes.ark'},{d / 'codes.scp'}") as w:
        for i, k in enumerate(keys):
            w(k, (rng.standard_normal(dim) + (i % 3) * 4).astype(np.float32))
    (d / "seg2phone").write_text("".join(f"{k} p{i % 3}\n" for i, k in enumerate(keys)))
    (d / "seg2spk").write_text("".join(f"{k} s{i % 2}\n" for i, k in enumerate(keys)))
    return d


def test_factor_part_of_the_codes(tmp_path):
    d = write_codes(tmp_path / "enc")
    (d / "factor_slices.json").write_text(json.dumps({"phone": [0, 4], "spk": [4, 6]}))
    assert load_codes("f", d).codes.shape == (30, 6)
    assert load_codes("f", d, "phone").codes.shape == (30, 4)
    spk = load_codes("f", d, "spk")
    assert np.array_equal(spk.codes, load_codes("f", d).codes[:, 4:])
    with pytest.raises(DataError, match="no 'speaker' part"):
        load_codes("f", d, "speaker")


def test_grid_has_a_column_per_model_and_refuses_other_segments(tmp_path):
    a = load_codes("a", write_codes(tmp_path / "a"))
    b = load_codes("b", write_codes(tmp_path / "b"))
    emb = plot_tsne_grid([a, b], tmp_path / "grid.png", perplexity=5)
    assert set(emb) == {"a", "b"} and emb["a"].shape == (30, 2)
    cache = tmp_path / "a" / "tsne_all_30_0_5.npy"
    assert np.array_equal(np.load(cache), emb["a"])  # kept for the next figure of the same codes
    np.save(cache, np.zeros((30, 2)))
    assert not plot_tsne_grid([a], tmp_path / "again.png", perplexity=5)["a"].any()
    assert (tmp_path / "grid.png").stat().st_size > 1000
    b.keys = b.keys[::-1]
    with pytest.raises(DataError, match="different segments"):
        plot_tsne_grid([a, b], tmp_path / "bad.png")
    assert np.array_equal(subsample(100, 10, 0), subsample(100, 10, 0)) and len(subsample(5, 10, 0)) == 5


def test_the_most_frequent_classes_get_colours_and_the_others_grey():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    symbols = ["b"] * 3 + ["a"] * 3 + ["c"] * 2 + ["d"]
    assert named_classes(symbols, 2) == ["a", "b"]  # a tie goes in name order
    assert named_classes(symbols, 0) == ["a", "b", "c", "d"]
    fig, ax = plt.subplots()
    scatter_classes(ax, np.arange(18.0).reshape(9, 2), symbols, ["a", "b"], legend=True)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["others", "a", "b"]
    others = ax.collections[0]
    assert len(others.get_offsets()) == 3 and np.allclose(others.get_facecolor()[0][:3], 0.85)
    assert [len(c.get_offsets()) for c in ax.collections[1:]] == [3, 3]
    assert len({tuple(c.get_facecolor()[0]) for c in ax.collections}) == 3  # a colour each
    plt.close(fig)
