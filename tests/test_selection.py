import numpy as np
import pytest

from spectralfm.errors import InputError
from spectralfm.transfer.selection import (
    kennard_stone,
    kennard_stone_split,
    random_selection,
    spxy,
)


def naive_kennard_stone(D, n):
    """Textbook loop version, for comparison."""
    i, j = np.unravel_index(np.argmax(D), D.shape)
    chosen = [min(i, j), max(i, j)]
    while len(chosen) < n:
        rest = [k for k in range(len(D)) if k not in chosen]
        chosen.append(max(rest, key=lambda k: min(D[k, c] for c in chosen)))
    return chosen[:n]


def test_starts_with_farthest_pair_then_fills_the_gap():
    X = np.arange(11.0)[:, None]
    picked = kennard_stone(X, 3)
    assert list(picked[:2]) == [0, 10]
    assert picked[2] == 5


def test_matches_textbook_implementation():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 7))
    D = np.linalg.norm(X[:, None] - X[None], axis=2)
    assert list(kennard_stone(X, 12)) == naive_kennard_stone(D, 12)


def test_split_is_a_partition(shared_data):
    X = np.loadtxt(shared_data / "nir/Cargill_Corn/m5_spectra.csv", delimiter=",", skiprows=1)
    train, test = kennard_stone_split(X, 60)
    assert len(train) == 60 and len(test) == 20
    assert len(set(train)) == 60
    assert sorted(np.concatenate([train, test])) == list(range(80))


def test_identical_samples_give_distinct_indices():
    picked = kennard_stone(np.ones((5, 3)), 4)
    assert len(set(picked)) == 4


def test_spxy_uses_y_when_x_carries_no_spread():
    X = np.zeros((6, 3))
    y = np.array([3.0, 0.0, 1.0, 9.0, 4.0, 5.0])
    assert set(spxy(X, y, 2)) == {1, 3}


def test_spxy_matches_textbook_on_combined_distance():
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(25, 4)), rng.normal(size=25)
    dx = np.linalg.norm(X[:, None] - X[None], axis=2)
    dy = np.abs(y[:, None] - y[None])
    D = dx / dx.max() + dy / dy.max()
    assert list(spxy(X, y, 8)) == naive_kennard_stone(D, 8)


def test_random_selection_reproducible_and_distinct():
    a = random_selection(60, 10, seed=3)
    assert list(a) == list(random_selection(60, 10, seed=3))
    assert len(set(a)) == 10 and a.min() >= 0 and a.max() < 60
    assert list(a) != list(random_selection(60, 10, seed=4))


@pytest.mark.parametrize(
    "call",
    [
        lambda: kennard_stone(np.zeros((5, 2)), 6),
        lambda: kennard_stone(np.zeros((5, 2)), 0),
        lambda: kennard_stone_split(np.zeros((5, 2)), 7),
        lambda: spxy(np.zeros((5, 2)), np.zeros(5), 6),
        lambda: spxy(np.zeros((5, 2)), np.zeros(4), 2),
        lambda: random_selection(5, 6, seed=0),
        lambda: kennard_stone(np.zeros(5), 2),
        lambda: kennard_stone(np.array([[0.0, np.nan], [1.0, 2.0]]), 1),
    ],
)
def test_bad_requests_raise_input_error(call):
    with pytest.raises(InputError):
        call()
