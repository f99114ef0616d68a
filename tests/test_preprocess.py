import csv
import json

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spectralfm import preprocess
from spectralfm.errors import InputError
from spectralfm.preprocess import (
    SpectraShardWriter,
    process_shard,
    qc_reasons,
    read_shard_meta,
    resample_batch,
    snv,
)
from spectralfm.sources.record import SHARD_SCHEMA


def write_parsed(path, records):
    """records: (x, y, modality, source, sample_id) tuples -> a parsed shard like the readers'."""
    columns = {name: [] for name in SHARD_SCHEMA.names}
    for x, y, modality, source, sample_id in records:
        columns["x"].append(None if x is None else list(map(float, x)))
        columns["y"].append(None if y is None else list(map(float, y)))
        columns["modality"].append(modality)
        columns["source"].append(source)
        columns["sample_id"].append(sample_id)
        columns["metadata"].append("{}")
    pq.write_table(pa.table(columns, schema=SHARD_SCHEMA), path)


def dough(shared_data):
    """Real NIR: the 72 Dough spectra (1100-2498 nm), x converted to cm^-1 (descending)."""
    table = np.genfromtxt(
        shared_data / "nir/Dough_NIR/Dough_NIR.csv", delimiter=",", skip_header=1
    )[:, 5:]
    return 1e7 / np.arange(1100.0, 2499.0, 2.0), table


def reference_resample(x, y, n_points=2048):
    order = np.argsort(x)
    grid = np.linspace(x.min(), x.max(), n_points)
    return np.interp(grid, x[order], y[order])


def test_resample_batch_matches_per_spectrum_interp_on_varied_spectra():
    rng = np.random.default_rng(0)
    xs, ys = [], []
    for i in range(40):
        n = int(rng.integers(40, 3000))
        lo = rng.uniform(50, 3000)
        x = np.sort(rng.uniform(lo, lo + rng.uniform(100, 3000), n))
        x = x[::-1] if i % 2 else x  # descending axes occur (RRUFF IR, nm converted)
        xs.append(x)
        ys.append(np.sin(x / 37.0) + rng.normal(0, 0.1, n))
    spectra, axis = resample_batch(xs, ys)
    assert spectra.shape == (40, 2048) and spectra.dtype == np.float32
    assert axis.shape == (40, 2) and axis.dtype == np.float64
    for i in range(40):
        assert axis[i, 0] == xs[i].min() and axis[i, 1] == xs[i].max()
        np.testing.assert_allclose(spectra[i], reference_resample(xs[i], ys[i]), atol=1e-5)


def test_resample_batch_on_real_nir_keeps_endpoints(shared_data):
    x, table = dough(shared_data)
    spectra, axis = resample_batch([x] * 5, list(table[:5]))
    np.testing.assert_allclose(axis[:, 0], 1e7 / 2498.0)
    np.testing.assert_allclose(axis[:, 1], 1e7 / 1100.0)
    # x is descending in cm^-1, so the first resampled point is the last nm column
    np.testing.assert_allclose(spectra[:, 0], table[:5, -1], rtol=1e-6)
    np.testing.assert_allclose(spectra[:, -1], table[:5, 0], rtol=1e-6)
    np.testing.assert_allclose(spectra[2], reference_resample(x, table[2]), rtol=1e-5)


def test_duplicate_x_values_are_averaged():
    x = np.tile(np.arange(40.0), 2)
    y = np.concatenate([np.zeros(40), np.full(40, 2.0)]) + np.arange(80) * 0
    spectra, axis = resample_batch([x], [y], n_points=40)
    np.testing.assert_allclose(spectra[0], 1.0)
    assert tuple(axis[0]) == (0.0, 39.0)


def test_unresamplable_spectra_get_nan_rows_and_qc_reasons():
    good_x = np.linspace(400, 4000, 500)
    good_y = np.cos(good_x / 100)
    xs = [good_x, good_x.copy(), np.arange(10.0), good_x, np.linspace(1000, 1020, 100), good_x]
    ys = [good_y, good_y.copy(), np.arange(10.0), np.full(500, 3.0), np.arange(100.0), good_y]
    xs[1][7] = np.nan
    ys[5] = good_y.copy()
    ys[5][3] = np.inf
    spectra, axis = resample_batch(xs, ys)
    assert np.isnan(spectra[1]).all() and np.isnan(axis[1]).all()
    assert np.isnan(spectra[5]).all()
    reasons = qc_reasons(xs, ys, spectra)
    assert reasons[0] is None
    assert reasons[1].startswith("non_finite")
    assert reasons[2].startswith("too_few_points")
    assert reasons[3].startswith("flat")
    assert reasons[4].startswith("narrow_range")
    assert reasons[5].startswith("non_finite")


def test_resample_batch_rejects_mismatched_shapes():
    with pytest.raises(InputError, match="spectrum 1"):
        resample_batch([np.arange(5.0), np.arange(5.0)], [np.arange(5.0), np.arange(4.0)])


def test_snv_rows_have_zero_mean_unit_std():
    rng = np.random.default_rng(1)
    out = snv(rng.normal(5, 3, (7, 2048)) * np.arange(1, 8)[:, None])
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=1), 1, atol=1e-5)


def test_process_shard_writes_spectra_and_quarantine(tmp_path, shared_data):
    x, table = dough(shared_data)
    records = [(x, table[i], "nir", "local", f"dough-{i}") for i in range(30)]
    bad = [
        (x, np.full(700, 0.5), "nir", "local", "flat-1"),
        (x, np.where(np.arange(700) == 3, np.nan, table[0]), "nir", "local", "nan-1"),
        (x[:10], table[0][:10], "nir", "local", "short-1"),
        (x, table[0], "uv", "local", "uv-1"),
        (x, table[0][:-1], "nir", "local", "mismatch-1"),
        (x, table[0], "nir", "local", ""),
    ]
    parsed = tmp_path / "local.parquet"
    write_parsed(parsed, records[:15] + bad + records[15:])
    out, quarantine = tmp_path / "local.h5", tmp_path / "local.quarantine.csv"
    # batches straddle bad rows; the quarantine defaults to <item>.quarantine.csv beside the shard
    counts = process_shard(parsed, out, batch_size=8)
    assert counts["read"] == 36 and counts["kept"] == 30 and counts["quarantined"] == 6
    assert counts["reasons"] == {
        "bad_modality": 1,
        "flat": 1,
        "length_mismatch": 1,
        "missing_sample_id": 1,
        "non_finite": 1,
        "too_few_points": 1,
    }
    with h5py.File(out) as f:
        assert f["spectra"].shape == (30, 2048) and f["spectra"].dtype == np.float32
        assert f["axis"].shape == (30, 2)
        ids = list(f["meta/sample_id"].asstr()[:])
        assert ids == [f"dough-{i}" for i in range(30)]
        assert set(f["meta/modality"].asstr()[:]) == {"nir"}
        assert set(f["meta/source"].asstr()[:]) == {"local"}
        expected = snv(reference_resample(x, table[20])[None])[0]
        np.testing.assert_allclose(f["spectra"][20], expected, atol=1e-5)
        assert json.loads(f.attrs["counts"])["kept"] == 30
    with open(quarantine, newline="") as fh:
        rows = list(csv.DictReader(fh))
    reasons = {r["sample_id"]: r["reason"] for r in rows}
    assert sorted(reasons) == ["", "flat-1", "mismatch-1", "nan-1", "short-1", "uv-1"]
    assert reasons["flat-1"].startswith("flat") and reasons["nan-1"].startswith("non_finite")
    assert {r["source"] for r in rows} == {"local"}


def test_process_shard_missing_column_names_the_file(tmp_path):
    path = tmp_path / "broken.parquet"
    pq.write_table(pa.table({"x": [[1.0, 2.0]], "y": [[1.0, 2.0]]}), path)
    with pytest.raises(InputError, match="broken.parquet.*modality"):
        process_shard(path, tmp_path / "o.h5", tmp_path / "q.csv")


def test_process_shard_failure_leaves_no_output(tmp_path, shared_data, monkeypatch):
    x, table = dough(shared_data)
    parsed = tmp_path / "p.parquet"
    write_parsed(parsed, [(x, table[i], "nir", "local", f"d{i}") for i in range(20)])
    calls = {"n": 0}
    real_snv = preprocess.snv

    def failing_snv(spectra):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return real_snv(spectra)

    monkeypatch.setattr(preprocess, "snv", failing_snv)
    with pytest.raises(RuntimeError, match="disk full"):
        process_shard(parsed, tmp_path / "out.h5", tmp_path / "q.csv", batch_size=8)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.parquet"]


def test_unordered_axes_are_sorted_and_degenerate_axes_rejected():
    rng = np.random.default_rng(2)
    x = rng.permutation(np.linspace(500, 1500, 300))
    y = np.sqrt(x)
    wrapped = np.array([5.0, 3.0, 5.0] * 20)  # first == last x, two distinct values
    noise = np.tile([0.0, 1.0, -1.0], 20)  # x = 3 always gets +1; x = 5 gets 0 and -1: mean -0.5
    xs, ys = [x, np.full(40, 3.0), wrapped], [y, np.arange(40.0), wrapped * 10 + noise]
    spectra, axis = resample_batch(xs, ys, n_points=64)
    np.testing.assert_allclose(spectra[0], reference_resample(x, y, 64), rtol=1e-6)
    assert np.isnan(spectra[1]).all() and np.isnan(axis[1]).all()
    assert tuple(axis[2]) == (3.0, 5.0)
    np.testing.assert_allclose(spectra[2][[0, 31, -1]], [31.0, 31.0 + 18.5 * 31 / 63, 49.5])


def reference_merged(x, y, n_points=2048):
    """np.interp in float64 on the sorted distinct x, y of duplicate x averaged."""
    distinct, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    merged = np.bincount(inverse, weights=y) / counts
    return np.interp(np.linspace(distinct[0], distinct[-1], n_points), distinct, merged)


def mixed_batch(rng):
    """Shared axes (ascending, descending, unordered with duplicates, a real NIR-like one) and
    axes of their own, interleaved; every y differs so a swapped row cannot pass."""
    ascending = np.linspace(400.0, 4000.0, 1800)
    descending = 1e7 / np.arange(1100.0, 2499.0, 2.0)
    raman = np.linspace(150, 3400, 1500)
    unordered = rng.permutation(np.concatenate([raman, raman[::2]]))  # every other x twice
    near_twin = ascending.copy()
    near_twin[7] += 1e-3  # same length, ends and middle as `ascending`: must not share its weights
    axes = [ascending, descending, unordered]
    xs, ys, kinds = [], [], []
    for i in range(60):
        kind = i % 5
        if kind < 3:
            x = axes[kind].copy()  # equal values, separate arrays (as rows of a Parquet shard)
        elif kind == 3:
            x = np.sort(rng.uniform(100, 3000, int(rng.integers(300, 2500))))[:: 1 - 2 * (i % 2)]
        else:
            x = near_twin.copy() if i == 9 else rng.uniform(500, 1500, 900)
        xs.append(x)
        ys.append(np.sin(x / (20.0 + i)) + 0.01 * i + rng.normal(0, 0.05, len(x)))
        kinds.append(kind)
    return xs, ys, kinds


def test_shared_axes_are_grouped_and_match_np_interp_row_by_row(monkeypatch):
    xs, ys, kinds = mixed_batch(np.random.default_rng(3))
    grouped = []
    real_shared = preprocess._resample_shared

    def spy(x, group_ys, rows, *args):
        grouped.append(list(rows))
        return real_shared(x, group_ys, rows, *args)

    monkeypatch.setattr(preprocess, "_resample_shared", spy)
    spectra, axis = resample_batch(xs, ys)
    # the three shared axes went through the grouped path, each once; nothing else did
    assert sorted(map(sorted, grouped)) == [
        [i for i in range(60) if kinds[i] == k] for k in range(3)
    ]
    assert spectra.shape == (60, 2048) and spectra.dtype == np.float32
    for i in range(60):
        assert tuple(axis[i]) == (xs[i].min(), xs[i].max())
        np.testing.assert_allclose(spectra[i], reference_merged(xs[i], ys[i]), atol=1e-5)


def test_shared_axis_rows_keep_input_order_and_large_values():
    rng = np.random.default_rng(4)
    x = np.arange(400.0, 4000.1, 2.0)[::-1]
    # counts in the tens of thousands: float32 arithmetic stays at float32 rounding of the values
    ys = [3e4 + 1e3 * np.cos(x / (30.0 + i)) + rng.normal(0, 5, len(x)) for i in range(20)]
    spectra, axis = resample_batch([x.copy() for _ in ys], ys)
    for i, y in enumerate(ys):
        np.testing.assert_allclose(spectra[i], reference_merged(x, y), rtol=3e-7, atol=0)
    assert (axis == (400.0, 4000.0)).all()


def test_shared_axis_bad_rows_and_bad_axes_get_nan_and_reasons():
    x = np.linspace(400, 4000, 500)
    ys = [np.cos(x / (50.0 + i)) for i in range(12)]
    ys[3] = ys[3].copy()
    ys[3][100] = np.nan
    ys[5] = np.full(500, 1e39)  # finite in float64, not in float32
    ys[7] = ys[7].copy()
    ys[7][-1] = -np.inf
    degenerate = np.full(40, 900.0)  # one distinct x shared by 10 spectra
    xs = [x.copy() for _ in ys] + [degenerate.copy() for _ in range(10)]
    ys = ys + [np.arange(40.0) for _ in range(10)]
    spectra, axis = resample_batch(xs, ys)
    bad = {3, 5, 7} | set(range(12, 22))
    for i in range(22):
        assert np.isnan(spectra[i]).all() == (i in bad)
        assert np.isnan(axis[i]).all() == (i in bad)
    np.testing.assert_allclose(spectra[4], reference_merged(x, ys[4]), atol=1e-6)
    reasons = qc_reasons(xs, ys, spectra)
    assert [r.split(":")[0] for r in (reasons[3], reasons[5], reasons[7])] == ["non_finite"] * 3
    assert reasons[12].startswith("too_few_points") and reasons[4] is None


def test_resample_batch_empty_batch_and_batch_of_only_bad_spectra():
    spectra, axis = resample_batch([], [])
    assert spectra.shape == (0, 2048) and axis.shape == (0, 2)
    xs = [np.array([1.0, np.nan, 3.0]), np.arange(5.0), np.array([2.0])]
    ys = [np.ones(3), np.full(5, np.inf), np.ones(1)]
    spectra, axis = resample_batch(xs, ys, n_points=16)
    assert np.isnan(spectra).all() and np.isnan(axis).all()


def test_spectra_shard_layout_round_trip_and_checks(tmp_path):
    path = tmp_path / "s.h5"
    meta = {"source": ["local", "local"], "modality": ["nir", "ir"], "sample_id": ["a", "b"]}
    with h5py.File(path, "w") as f:
        shard = SpectraShardWriter(f, 64, augmented=True)
        shard.append(np.zeros((2, 64)), np.array([[1e3, 2e3], [5e2, 9e2]]), meta, [0, 1])
        shard.append(
            np.ones((1, 64)), np.array([[1e3, 2e3]]), {k: v[:1] for k, v in meta.items()}, [0]
        )
        with pytest.raises(ValueError, match="aug_copy"):
            shard.append(np.ones((1, 64)), np.array([[1e3, 2e3]]), meta)
    read = read_shard_meta(path)
    assert (read.n_rows, read.n_points) == (3, 64)
    assert list(read.strings["sample_id"]) == ["a", "b", "a"] and list(read.aug_copy) == [0, 1, 0]
    with h5py.File(path, "a") as f:
        del f["meta/modality"]
    with pytest.raises(InputError, match="s.h5: spectra shard lacks /meta/modality"):
        read_shard_meta(path)
