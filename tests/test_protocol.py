"""The evaluation protocol (spectralfm.transfer.protocol): splits, standards, what each method may
see, the rows of one pair, missing reference values, and instruments on different axes."""

import math

import numpy as np
import pytest

from spectralfm.datasets import BenchmarkDataset
from spectralfm.errors import InputError
from spectralfm.results import ROW_COLUMNS
from spectralfm.transfer import protocol
from spectralfm.transfer.axes import common_grid
from spectralfm.transfer.protocol import (
    Split,
    build_task,
    fixed_split,
    make_splits,
    pair_spectra,
    random_splits,
    run_pair,
    select_standards,
)
from spectralfm.transfer.registry import METHOD_CLASSES, method_class
from spectralfm.transfer.selection import random_selection

pytestmark = pytest.mark.usefixtures("one_blas_thread")


def textbook_kennard_stone(X, n):
    """Kennard & Stone (1969) as a plain loop: the farthest pair, then repeatedly the sample
    farthest from its nearest chosen one."""
    D = np.sqrt(((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=2))
    i, j = np.unravel_index(np.argmax(D), D.shape)
    chosen = [int(min(i, j)), int(max(i, j))]
    while len(chosen) < n:
        rest = [k for k in range(len(X)) if k not in chosen]
        chosen.append(max(rest, key=lambda k: D[k, chosen].min()))
    return chosen


GRID = np.linspace(1000.0, 1400.0, 50)
BANDS = np.stack([np.exp(-0.5 * ((GRID - c) / 30.0) ** 2) for c in (1100.0, 1200.0, 1300.0)])


def synthetic_dataset(n=40, seed=0, nan_rows=()):
    """Two instruments on one axis; property p2 has no reference value on `nan_rows`."""
    rng = np.random.default_rng(seed)
    C = rng.uniform(0.0, 1.0, size=(n, 3))
    a = C @ BANDS + 0.1 + 0.003 * rng.normal(size=(n, GRID.size))
    b = 1.1 * (C @ BANDS) + 0.05 + 0.003 * rng.normal(size=(n, GRID.size))
    Y = np.column_stack([C @ [2.0, -1.0, 1.0], C @ [0.5, 1.0, 0.0] + 0.05 * rng.normal(size=n)])
    Y[list(nan_rows), 1] = np.nan
    return BenchmarkDataset("synthetic", GRID, {"a": a, "b": b}, ["p1", "p2"], Y, None, "synth")


@pytest.fixture(scope="module")
def corn(shared_data):
    from spectralfm.datasets import read_corn_mat

    return read_corn_mat(shared_data / "corn.mat")


# ---------------------------------------------------------------- splits


def test_fixed_kennard_stone_split_is_the_literature_split(corn):
    split = fixed_split(corn, "m5", "kennard_stone", 60)
    assert split.name == "kennard_stone" and split.seed == 0
    assert len(split.calibration) == 60 and len(split.test) == 20
    assert np.all(np.diff(split.calibration) > 0) and np.all(np.diff(split.test) > 0)
    assert not set(split.calibration) & set(split.test)
    assert sorted([*split.calibration, *split.test]) == list(range(80))
    expected = np.sort(textbook_kennard_stone(corn.instrument("m5"), 60))
    np.testing.assert_array_equal(split.calibration, expected)
    # the split is the master's: another instrument would give another one
    assert not np.array_equal(fixed_split(corn, "mp6", "kennard_stone", 60).calibration, expected)


def test_fixed_split_errors_and_file_labels():
    data = synthetic_dataset()
    with pytest.raises(InputError, match="n_calibration=40"):
        fixed_split(data, "a", "kennard_stone", 40)
    with pytest.raises(InputError, match="no split labels"):
        fixed_split(data, "a", "file", 30)
    with pytest.raises(InputError, match="unknown split scheme"):
        fixed_split(data, "a", "random", 30)
    labels = np.array(["calibrate", "validate", "test", "calibrate"] * 10)
    data.split = labels
    split = fixed_split(data, "a", "file", 0)
    assert split.name == "file"
    np.testing.assert_array_equal(split.calibration, np.flatnonzero(labels == "calibrate"))
    np.testing.assert_array_equal(split.test, np.flatnonzero(labels == "test"))  # validate unused


def test_random_splits_are_seeded_disjoint_and_keep_the_sizes():
    fixed = Split("kennard_stone", np.arange(5, 65), np.arange(65, 85), 0)
    splits = random_splits(fixed, 4)
    assert [s.name for s in splits] == [f"random:{i}" for i in range(4)]
    assert [s.seed for s in splits] == [0, 1, 2, 3]
    rows = sorted([*fixed.calibration, *fixed.test])
    for s in splits:
        assert len(s.calibration) == 60 and len(s.test) == 20
        assert not set(s.calibration) & set(s.test)
        assert sorted([*s.calibration, *s.test]) == rows
        assert np.all(np.diff(s.calibration) > 0) and np.all(np.diff(s.test) > 0)
    again = random_splits(fixed, 4)
    for a, b in zip(splits, again, strict=True):
        np.testing.assert_array_equal(a.calibration, b.calibration)
        np.testing.assert_array_equal(a.test, b.test)
    assert len({tuple(s.test) for s in splits}) == 4  # every seed a different split
    assert not any(np.array_equal(s.test, fixed.test) for s in splits)


def test_make_splits_repeats():
    data = synthetic_dataset()
    only = make_splits(data, "a", "kennard_stone", 30, repeats=0)
    assert len(only) == 1 and only[0].name == "kennard_stone"
    np.testing.assert_array_equal(
        only[0].calibration, fixed_split(data, "a", "kennard_stone", 30).calibration
    )
    three = make_splits(data, "a", "kennard_stone", 30, repeats=2)
    assert [s.name for s in three] == ["kennard_stone", "random:0", "random:1"]
    for bad in (-1, 1.5):
        with pytest.raises(InputError, match="repeats"):
            make_splits(data, "a", "kennard_stone", 30, repeats=bad)


def test_select_standards():
    X = synthetic_dataset().instrument("a")[:30]
    np.testing.assert_array_equal(
        select_standards(X, 6, "kennard_stone", 3), textbook_kennard_stone(X, 6)
    )
    np.testing.assert_array_equal(select_standards(X, 6, "random", 3), random_selection(30, 6, 3))
    assert not np.array_equal(
        select_standards(X, 6, "random", 3), select_standards(X, 6, "random", 4)
    )
    with pytest.raises(InputError, match="n_transfer=31"):
        select_standards(X, 31, "random", 0)
    with pytest.raises(InputError, match="unknown selection"):
        select_standards(X, 3, "spxy", 0)


# ---------------------------------------------------------------- what each method sees


@pytest.mark.parametrize("name", METHOD_CLASSES)
def test_build_task_gives_each_method_only_what_it_may_see(name):
    data = synthetic_dataset()
    Xm, Xt, y = data.instrument("a"), data.instrument("b"), data.property("p1")
    cal, test = np.arange(5, 35), np.r_[0:5, 35:40]
    std = np.array([3, 17, 8, 22])
    task = build_task(Xm, Xt, y, cal, std, GRID, method_class(name), seed=7)
    np.testing.assert_array_equal(task.X_master, Xm[cal])
    np.testing.assert_array_equal(task.X_master_std, Xm[cal][std])
    np.testing.assert_array_equal(task.X_target_std, Xt[cal][std])
    np.testing.assert_array_equal(task.y_std, y[cal][std])
    np.testing.assert_array_equal(task.std_index, std)
    np.testing.assert_array_equal(task.wavelengths_nm, GRID)
    assert task.seed == 7
    if name == "target_full":
        np.testing.assert_array_equal(task.X_target_cal, Xt[cal])
        np.testing.assert_array_equal(task.y_target_cal, y[cal])
    else:
        assert task.X_target_cal is None and task.y_target_cal is None
    if not method_class(name).uses_unlabeled:
        assert task.X_target_unlabeled is None and task.n_unlabeled == 0
        return
    pool = task.X_target_unlabeled
    rest = np.setdiff1d(np.arange(len(cal)), std)
    assert task.n_unlabeled == len(rest) == 26
    # the same rows as the non-standard calibration rows, in another order
    order = [int(np.flatnonzero((Xt[cal][rest] == row).all(axis=1))[0]) for row in pool]
    assert sorted(order) == list(range(len(rest)))
    assert order != list(range(len(rest)))
    for forbidden in (Xt[test], Xt[cal][std]):  # never a test sample or a standard
        assert not (pool[:, None, :] == forbidden[None, :, :]).all(axis=2).any()
    other = build_task(Xm, Xt, y, cal, std, GRID, method_class(name), seed=8)
    assert not np.array_equal(other.X_target_unlabeled, pool)  # the seed shuffles


# ---------------------------------------------------------------- rows of one pair

FAST = {
    "sbc": {"fit_slope": False, "preprocessing": "none", "master_components": 2},
    "coral": {"n_components": 2, "preprocessing": "none", "master_components": 2},
    "dipls": {"domain_weight": 1.0, "preprocessing": "none", "master_components": 2},
    "target_full": {"preprocessing": "none", "master_components": 2},
    "no_transfer": {"preprocessing": "none", "master_components": 2},
}


@pytest.fixture(scope="module")
def nan_data():
    data = synthetic_dataset()
    fixed = fixed_split(data, "a", "kennard_stone", 30)
    nan_rows = [*fixed.calibration[[1, 4, 9]], *fixed.test[[0, 3]]]
    return synthetic_dataset(nan_rows=nan_rows), nan_rows


def _run_recording(monkeypatch, data, name, **kwargs):
    built = []
    real = protocol.build_task

    def record(Xm, Xt, y, cal, std, grid, method_cls, seed):
        task = real(Xm, Xt, y, cal, std, grid, method_cls, seed)
        built.append({"cal": cal, "std": std, "seed": seed, "task": task, "y": y})
        return task

    monkeypatch.setattr(protocol, "build_task", record)
    options = dict(
        properties=["p1", "p2"],
        n_transfer=[5, 12],
        selections=["kennard_stone", "random"],
        seeds=[0, 1],
        split_scheme="kennard_stone",
        n_calibration=30,
        repeats=2,
    )
    options.update(kwargs)
    rows = run_pair(data, "a", "b", name, FAST.get(name, {}), **options)
    monkeypatch.undo()
    return rows, built


@pytest.mark.parametrize("name", ["sbc", "coral", "dipls"])
def test_run_pair_rows_for_a_method_with_standards(monkeypatch, nan_data, name):
    data, nan_rows = nan_data
    rows, built = _run_recording(monkeypatch, data, name)
    assert len(rows) == len(built) == 2 * 14  # per property: 2 N x (1 KS + 2 seeds + 2 x 2)
    splits = {s.name: s for s in make_splits(data, "a", "kennard_stone", 30, 2)}
    for row, b in zip(rows, built, strict=True):
        assert list(row) == ROW_COLUMNS
        assert (row["dataset"], row["source"], row["target"]) == ("synthetic", "a", "b")
        assert row["method"] == name
        split = splits[row["split"]]
        known = np.isfinite(data.property(row["property"]))
        np.testing.assert_array_equal(b["cal"], split.calibration[known[split.calibration]])
        assert row["n_test"] == int(known[split.test].sum())
        assert np.all(np.isfinite(b["task"].y))
        if row["property"] == "p2":
            assert not set(nan_rows) & set(b["cal"])
        n = row["n_transfer"]
        assert len(b["std"]) == n == b["task"].n_standards
        if row["split"] == "kennard_stone":
            assert row["seed"] in ((0,) if row["selection"] == "kennard_stone" else (0, 1))
        else:
            assert row["seed"] == split.seed  # one draw, seeded by the split
        assert b["seed"] == row["seed"]
        if row["selection"] == "random":
            np.testing.assert_array_equal(b["std"], random_selection(len(b["cal"]), n, row["seed"]))
        expected_pool = len(b["cal"]) - n if name in ("coral", "dipls") else 0
        assert row["unlabeled"] == expected_pool == b["task"].n_unlabeled
        assert row["preprocessing"] == "none"
        assert math.isfinite(row["rmsep"])
        assert math.isnan(row["picp90"]) == (n < 9)
    fixed_random = [r for r in rows if r["split"] == "kennard_stone" and r["selection"] == "random"]
    assert sorted({r["seed"] for r in fixed_random}) == [0, 1]
    for split_name in ("random:0", "random:1"):
        chosen = [r for r in rows if r["split"] == split_name and r["selection"] == "random"]
        assert len(chosen) == 4  # 2 properties x 2 N, one draw each
    assert {r["split"] for r in rows} == {"kennard_stone", "random:0", "random:1"}
    # the fixed split's p2 rows lost 3 calibration and 2 test rows
    fixed_p2 = [r for r in rows if r["split"] == "kennard_stone" and r["property"] == "p2"]
    assert {r["n_test"] for r in fixed_p2} == {8}


@pytest.mark.parametrize("name", ["no_transfer", "target_full"])
def test_run_pair_rows_for_a_method_without_standards(monkeypatch, nan_data, name):
    data, _ = nan_data
    rows, built = _run_recording(monkeypatch, data, name)
    assert len(rows) == 2 * 3  # one per property and split
    for row, b in zip(rows, built, strict=True):
        assert row["selection"] == "none" and row["unlabeled"] == 0
        assert b["task"].n_standards == 0
        assert row["seed"] == (0 if row["split"] == "kennard_stone" else int(row["split"][7:]))
        if name == "target_full":
            assert row["n_transfer"] == len(b["cal"])  # the whole (known) calibration set
            assert len(b["task"].X_target_cal) == len(b["cal"])
        else:
            assert row["n_transfer"] == 0 and b["task"].X_target_cal is None
    fixed = {r["property"]: r["n_transfer"] for r in rows if r["split"] == "kennard_stone"}
    if name == "target_full":
        assert fixed == {"p1": 30, "p2": 27}


def test_run_pair_skips_n_above_the_known_calibration_rows(monkeypatch, nan_data):
    data, _ = nan_data
    rows, _ = _run_recording(
        monkeypatch, data, "sbc", n_transfer=[28], selections=["random"], seeds=[0], repeats=0
    )
    assert [r["property"] for r in rows] == ["p1"]  # p2 has 27 known calibration rows


def test_run_pair_refuses_a_bad_parameter_before_any_fit(monkeypatch):
    monkeypatch.setattr(protocol, "build_task", lambda *a: pytest.fail("fitted anyway"))
    with pytest.raises(InputError, match=r"methods\.pds.*windw"):
        run_pair(
            synthetic_dataset(),
            "a",
            "b",
            "pds",
            {"windw": 1},
            ["p1"],
            [5],
            ["random"],
            [0],
            "kennard_stone",
            30,
        )


def test_evaluate_row_fields():
    data = synthetic_dataset()
    Xm, Xt, y = data.instrument("a"), data.instrument("b"), data.property("p1")
    cal, test, std = np.arange(30), np.arange(30, 40), np.arange(12)
    task = build_task(Xm, Xt, y, cal, std, GRID, method_class("coral"), 0)
    row = protocol.evaluate("coral", FAST["coral"], task, Xt[test], y[test])
    assert row["unlabeled"] == 18
    assert row["preprocessing"] == "none"
    assert row["params"] == (
        '{"cv":5,"eps":0.001,"master_components":2,"max_components":20,"n_components":2,"tuned":[]}'
    )
    assert 0.0 <= row["picp90"] <= 1.0 and row["mpiw90"] > 0


# ---------------------------------------------------------------- instruments on different axes

AXIS_A = np.arange(1000.0, 1500.1, 2.0)  # 251 points
AXIS_B = np.arange(1100.0, 1600.1, 5.0)  # 101 points; 81 of them in the overlap 1100-1500
AXIS_C = np.arange(2000.0, 2400.1, 5.0)  # shares nothing with A


def axes_dataset(n=30, seed=0):
    rng = np.random.default_rng(seed)
    offset, slope = rng.uniform(0.1, 1.0, n), rng.uniform(-0.5, 0.5, n)
    # linear in the wavelength: linear interpolation reproduces them exactly
    a = offset[:, None] + slope[:, None] * AXIS_A[None, :] / 1000.0
    b = rng.uniform(size=(n, AXIS_B.size))
    c = rng.uniform(size=(n, AXIS_C.size))
    Y = np.column_stack([offset + slope])
    return (
        BenchmarkDataset(
            "synthetic",
            None,
            {"a": a, "b": b, "c": c},
            ["p1"],
            Y,
            None,
            "synth",
            axes={"a": AXIS_A, "b": AXIS_B, "c": AXIS_C},
        ),
        offset,
        slope,
    )


def test_pair_spectra_resamples_onto_the_common_grid():
    data, offset, slope = axes_dataset()
    assert data.wavelengths_nm is None
    Xm, Xt, grid = pair_spectra(data, "a", "b")
    np.testing.assert_array_equal(grid, AXIS_B[AXIS_B <= 1500.0])  # the coarser instrument's
    np.testing.assert_array_equal(grid, common_grid(AXIS_A, AXIS_B))
    assert Xm.shape == Xt.shape == (30, 81)
    np.testing.assert_allclose(Xm, offset[:, None] + slope[:, None] * grid / 1000.0, atol=1e-12)
    np.testing.assert_array_equal(Xt, data.instrument("b")[:, :81])  # measured values kept
    # roles swapped: the same grid, the target now resampled
    Xm2, Xt2, grid2 = pair_spectra(data, "b", "a")
    np.testing.assert_array_equal(grid2, grid)
    np.testing.assert_array_equal(Xm2, Xt)
    np.testing.assert_allclose(Xt2, Xm, atol=1e-12)
    # one axis shared: nothing resampled
    same = synthetic_dataset()
    Xa, Xb, g = pair_spectra(same, "a", "b")
    np.testing.assert_array_equal(Xa, same.instrument("a"))
    np.testing.assert_array_equal(Xb, same.instrument("b"))
    np.testing.assert_array_equal(g, GRID)


def test_a_pair_that_does_not_overlap_is_refused_by_name():
    data, _, _ = axes_dataset()
    with pytest.raises(InputError, match="synthetic a->c"):
        pair_spectra(data, "a", "c")
    with pytest.raises(InputError, match="synthetic a->c"):
        run_pair(
            data,
            "a",
            "c",
            "no_transfer",
            FAST["no_transfer"],
            ["p1"],
            [5],
            ["random"],
            [0],
            "kennard_stone",
            20,
        )


def test_run_pair_on_different_axes_fits_on_the_common_grid(monkeypatch):
    data, _, _ = axes_dataset()
    built = []
    real = protocol.build_task

    def record(*args):
        built.append(real(*args))
        return built[-1]

    monkeypatch.setattr(protocol, "build_task", record)
    rows = run_pair(
        data, "a", "b", "sbc", FAST["sbc"], ["p1"], [5], ["random"], [0], "kennard_stone", 20
    )
    assert len(rows) == 1 and rows[0]["n_test"] == 10
    grid = common_grid(AXIS_A, AXIS_B)
    np.testing.assert_array_equal(built[0].wavelengths_nm, grid)
    assert built[0].X_master.shape == (20, grid.size)
