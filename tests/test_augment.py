import h5py
import numpy as np
import pytest

from spectralfm.augment import augment_shard
from spectralfm.errors import InputError
from spectralfm.preprocess import SpectraShardWriter, resample_batch, snv


def write_spectra_shard(path, shared_data, n=12):
    """A spectra shard from the real Dough NIR spectra, as process_shard writes it."""
    table = np.genfromtxt(
        shared_data / "nir/Dough_NIR/Dough_NIR.csv", delimiter=",", skip_header=1
    )[:n, 5:]
    x = 1e7 / np.arange(1100.0, 2499.0, 2.0)
    spectra, axis = resample_batch([x] * n, list(table))
    meta = {
        "source": ["local"] * n,
        "modality": ["nir"] * n,
        "sample_id": [f"d{i}" for i in range(n)],
    }
    with h5py.File(path, "w") as f:
        SpectraShardWriter(f, spectra.shape[1]).append(snv(spectra), axis, meta)
    return path


PARAMS = dict(noise_snr_db=30.0, baseline_drift=0.2, shift_cm1=2.0, scale_range=(0.8, 1.2))


def read(path):
    with h5py.File(path) as f:
        return {
            "spectra": f["spectra"][:],
            "axis": f["axis"][:],
            "aug_copy": f["meta/aug_copy"][:],
            "sample_id": f["meta/sample_id"].asstr()[:],
            "source": f["meta/source"].asstr()[:],
        }


def test_layout_copies_and_perturbations(tmp_path, shared_data):
    shard = write_spectra_shard(tmp_path / "dough.h5", shared_data)
    counts = augment_shard(shard, tmp_path / "aug.h5", copies=3, seed=7, **PARAMS)
    assert counts == {"rows_in": 12, "rows_out": 48, "copies": 3}
    out = read(tmp_path / "aug.h5")
    original = read_original(shard)
    assert out["spectra"].shape == (48, 2048) and out["spectra"].dtype == np.float32
    assert list(out["aug_copy"][:8]) == [0, 1, 2, 3, 0, 1, 2, 3]
    assert list(out["sample_id"][:5]) == ["d0", "d0", "d0", "d0", "d1"]
    assert set(out["source"]) == {"local"}
    np.testing.assert_array_equal(out["spectra"][::4], original["spectra"])
    np.testing.assert_array_equal(out["axis"][::4], original["axis"])
    augmented = out["spectra"][out["aug_copy"] > 0]
    np.testing.assert_allclose(augmented.mean(axis=1), 0, atol=1e-5)  # SNV re-applied
    np.testing.assert_allclose(augmented.std(axis=1), 1, atol=1e-4)
    repeated = np.repeat(original["spectra"], 3, axis=0)
    assert np.abs(augmented - repeated).max(axis=1).min() > 1e-3  # every copy is perturbed
    shift = out["axis"][out["aug_copy"] > 0] - np.repeat(original["axis"], 3, axis=0)
    assert np.abs(shift).max() <= 2.0 and np.abs(shift).max() > 0
    np.testing.assert_allclose(shift[:, 0], shift[:, 1])  # a shift, not a stretch


def read_original(path):
    with h5py.File(path) as f:
        return {"spectra": f["spectra"][:], "axis": f["axis"][:]}


def test_noise_follows_the_requested_snr(tmp_path, shared_data):
    shard = write_spectra_shard(tmp_path / "dough.h5", shared_data)
    augment_shard(
        shard,
        tmp_path / "aug.h5",
        copies=2,
        noise_snr_db=20.0,
        baseline_drift=0.0,
        shift_cm1=0.0,
        scale_range=(1.0, 1.0),
        seed=0,
    )
    out = read(tmp_path / "aug.h5")
    residual = out["spectra"][out["aug_copy"] > 0] - np.repeat(out["spectra"][::3], 2, axis=0)
    # 20 dB: noise std = 0.1 x signal std (1 after SNV), shrunk slightly by the re-SNV
    assert 0.09 < residual.std() < 0.11


def test_reruns_are_bit_identical_and_seed_and_shard_name_matter(tmp_path, shared_data):
    shard = write_spectra_shard(tmp_path / "dough.h5", shared_data)
    augment_shard(shard, tmp_path / "a.h5", copies=2, seed=3, **PARAMS)
    augment_shard(shard, tmp_path / "b.h5", copies=2, seed=3, **PARAMS)
    augment_shard(shard, tmp_path / "c.h5", copies=2, seed=4, **PARAMS)
    renamed = write_spectra_shard(tmp_path / "other.h5", shared_data)
    augment_shard(renamed, tmp_path / "d.h5", copies=2, seed=3, **PARAMS)
    a, b, c, d = (read(tmp_path / f"{k}.h5") for k in "abcd")
    np.testing.assert_array_equal(a["spectra"], b["spectra"])
    np.testing.assert_array_equal(a["axis"], b["axis"])
    assert not np.array_equal(a["spectra"], c["spectra"])
    assert not np.array_equal(a["spectra"], d["spectra"])


def test_bad_parameters_and_inputs_raise(tmp_path, shared_data):
    shard = write_spectra_shard(tmp_path / "dough.h5", shared_data)
    with pytest.raises(InputError, match="scale_range"):
        augment_shard(shard, tmp_path / "o.h5", 1, 30.0, 0.1, 1.0, (1.2, 0.8), 0)
    with pytest.raises(InputError, match="noise_snr_db"):
        augment_shard(shard, tmp_path / "o.h5", 1, -3.0, 0.1, 1.0, (0.8, 1.2), 0)
    augment_shard(shard, tmp_path / "once.h5", copies=1, seed=0, **PARAMS)
    with pytest.raises(InputError, match="once.h5.*already augmented"):
        augment_shard(tmp_path / "once.h5", tmp_path / "twice.h5", copies=1, seed=0, **PARAMS)
    with h5py.File(tmp_path / "bare.h5", "w") as f:
        f["spectra"] = np.zeros((2, 2048), dtype=np.float32)
    with pytest.raises(InputError, match="bare.h5.*axis"):
        augment_shard(tmp_path / "bare.h5", tmp_path / "o.h5", copies=1, seed=0, **PARAMS)
    assert not (tmp_path / "o.h5").exists() and not (tmp_path / "twice.h5").exists()
