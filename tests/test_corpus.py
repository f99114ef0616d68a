import json
from collections import Counter, defaultdict

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from torch.utils.data import DataLoader

from spectralfm import corpus
from spectralfm.augment import augment_shard
from spectralfm.corpus import build_corpus, plot_examples, write_stats
from spectralfm.datasets import load_benchmark
from spectralfm.errors import InputError
from spectralfm.leakage import BenchmarkFingerprints, benchmark_sets
from spectralfm.preprocess import SpectraShardWriter, process_shard, snv
from spectralfm.training.corpus_dataset import CorpusDataset

N_POINTS = 2048


def write_parsed(path, records):
    """A parsed shard (the readers' Parquet layout) from (x, y, modality, source, id) tuples."""
    columns = {
        "x": [list(map(float, r[0])) for r in records],
        "y": [list(map(float, r[1])) for r in records],
        "modality": [r[2] for r in records],
        "source": [r[3] for r in records],
        "sample_id": [r[4] for r in records],
        "metadata": ["{}"] * len(records),
    }
    pq.write_table(pa.table(columns), path)


def write_shard(path, source, modality, sample_ids, spectra=None, axis=None, aug_copy=None, seed=0):
    n = len(sample_ids)
    rng = np.random.default_rng(seed)
    if spectra is None:
        spectra = snv(rng.normal(size=(n, N_POINTS)))
    if axis is None:
        axis = np.stack([rng.uniform(100, 500, n), rng.uniform(1500, 4000, n)], axis=1)
    meta = {"source": [source] * n, "modality": [modality] * n, "sample_id": list(sample_ids)}
    with h5py.File(path, "w") as f:
        shard = SpectraShardWriter(f, spectra.shape[1], augmented=aug_copy is not None)
        shard.append(spectra.astype(np.float32), axis, meta, aug_copy)
    return path


def read_corpus(path):
    with h5py.File(path) as f:
        out = {k: f[k][:] for k in ("spectra", "axis", "meta/aug_copy", "meta/domain")}
        for k in ("source", "modality", "sample_id", "split"):
            out[f"meta/{k}"] = f[f"meta/{k}"].asstr()[:]
        out["attrs"] = dict(f.attrs)
        out["chunks"] = f["spectra"].chunks
    return out


@pytest.fixture
def two_shards(tmp_path, monkeypatch):
    """300 rruff rows (100 samples x 3 aug copies) + 200 openspecy rows with 15 exact duplicates."""
    # small buckets and read blocks so the test crosses many bucket and block boundaries
    monkeypatch.setattr(corpus, "BUCKET_ROWS", 64)
    monkeypatch.setattr(corpus, "READ_BLOCK_ROWS", 50)
    ids_a = [f"s{i // 3}" for i in range(300)]
    a = write_shard(tmp_path / "a.h5", "rruff", "raman", ids_a, aug_copy=np.arange(300) % 3)
    with h5py.File(a) as f:
        spectra_a, axis_a = f["spectra"][:], f["axis"][:]
    rng = np.random.default_rng(1)
    spectra_b = snv(rng.normal(size=(200, N_POINTS)))
    axis_b = np.stack([np.full(200, 200.0), np.full(200, 3800.0)], axis=1)
    spectra_b[:10], axis_b[:10] = spectra_a[:10], axis_a[:10]  # duplicates of shard a
    spectra_b[100:105] = spectra_b[50:55]  # duplicates within shard b
    ids_b = [f"m{i}" for i in range(200)]
    b = write_shard(tmp_path / "b.h5", "openspecy", "ir", ids_b, spectra_b, axis_b)
    return [a, b]


def test_build_corpus_layout_dedup_shuffle_and_domains(tmp_path, two_shards):
    stats = build_corpus(two_shards, tmp_path / "corpus.h5", 0.2, seed=5, config_fingerprint="abc")
    c = read_corpus(tmp_path / "corpus.h5")
    assert stats["n_rows"] == 485 and len(c["spectra"]) == 485
    assert stats["duplicates_removed"] == 15 and stats["duplicates_by_source"] == {"openspecy": 15}
    assert c["chunks"] == (256, N_POINTS) and c["spectra"].dtype == np.float32
    # every kept input row is in the corpus once, with its own axis and metadata
    inputs = {}
    for path in two_shards:
        with h5py.File(path) as f:
            sources, ids = f["meta/source"].asstr()[:], f["meta/sample_id"].asstr()[:]
            copies = f["meta/aug_copy"][:] if "meta/aug_copy" in f else np.zeros(len(ids))
            for row, ax, s, i, k in zip(
                f["spectra"][:], f["axis"][:], sources, ids, copies, strict=True
            ):
                inputs.setdefault(row.tobytes() + ax.tobytes(), (s, i, int(k)))
    seen = [
        (row.tobytes() + ax.tobytes(), (s, i, int(k)))
        for row, ax, s, i, k in zip(
            c["spectra"],
            c["axis"],
            c["meta/source"],
            c["meta/sample_id"],
            c["meta/aug_copy"],
            strict=True,
        )
    ]
    assert len({key for key, _ in seen}) == 485 == len(inputs)
    assert all(inputs[key] == meta for key, meta in seen)
    # shuffled: the first 100 rows mix both shards instead of being shard a in order
    assert set(c["meta/source"][:100]) == {"rruff", "openspecy"}
    domains = json.loads(c["attrs"]["domains"])
    assert domains == [["openspecy", "ir"], ["rruff", "raman"]]
    for d, s, m in zip(c["meta/domain"], c["meta/source"], c["meta/modality"], strict=True):
        assert domains[d] == [s, m]
    assert c["attrs"]["config_fingerprint"] == "abc"
    assert "h5py" in json.loads(c["attrs"]["versions"]) and c["attrs"]["created"]
    assert (
        stats["rows_by_source"]["rruff"]["train"] + stats["rows_by_source"]["rruff"]["val"] == 300
    )


def test_split_is_by_sample_so_augmented_copies_share_it(tmp_path, two_shards):
    build_corpus(two_shards, tmp_path / "corpus.h5", 0.3, seed=2)
    c = read_corpus(tmp_path / "corpus.h5")
    splits = defaultdict(set)
    for sid, split in zip(c["meta/sample_id"], c["meta/split"], strict=True):
        splits[sid].add(split)
    assert all(len(s) == 1 for s in splits.values())
    val_samples = sum(s == {"val"} for s in splits.values())
    assert 0.15 < val_samples / len(splits) < 0.45
    rruff_val = (c["meta/split"] == "val") & (c["meta/source"] == "rruff")
    copies_in_val = Counter(c["meta/aug_copy"][rruff_val])
    assert copies_in_val[0] == copies_in_val[1] == copies_in_val[2] > 0


def test_build_is_deterministic_and_seed_changes_order(tmp_path, two_shards):
    build_corpus(two_shards, tmp_path / "x.h5", 0.2, seed=9)
    build_corpus(two_shards, tmp_path / "y.h5", 0.2, seed=9)
    build_corpus(two_shards, tmp_path / "z.h5", 0.2, seed=10)
    x, y, z = (read_corpus(tmp_path / f"{k}.h5") for k in "xyz")
    np.testing.assert_array_equal(x["spectra"], y["spectra"])
    np.testing.assert_array_equal(x["meta/split"], y["meta/split"])
    assert not np.array_equal(x["spectra"], z["spectra"])


def test_crash_during_build_leaves_previous_corpus_untouched(tmp_path, two_shards, monkeypatch):
    out = tmp_path / "corpus.h5"
    build_corpus(two_shards, out, 0.2, seed=1)
    before = out.read_bytes()

    def crash(*args, **kwargs):
        raise RuntimeError("killed mid-shuffle")

    monkeypatch.setattr(corpus, "_shuffle_buckets", crash)
    with pytest.raises(RuntimeError, match="killed"):
        build_corpus(two_shards, out, 0.2, seed=2)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.h5", "b.h5", "corpus.h5"]
    out.unlink()
    with pytest.raises(RuntimeError):
        build_corpus(two_shards, out, 0.2, seed=2)
    assert not out.exists()


def test_bad_shards_are_named(tmp_path, two_shards):
    with h5py.File(tmp_path / "noaxis.h5", "w") as f:
        f["spectra"] = np.zeros((3, N_POINTS), dtype=np.float32)
    with pytest.raises(InputError, match="noaxis.h5.*axis"):
        build_corpus([two_shards[0], tmp_path / "noaxis.h5"], tmp_path / "c.h5", 0.2, 0)
    short = write_shard(tmp_path / "short.h5", "rruff", "raman", ["q"], np.zeros((1, 512)))
    with pytest.raises(InputError, match="short.h5.*512 points"):
        build_corpus([two_shards[0], short], tmp_path / "c.h5", 0.2, 0)
    assert not (tmp_path / "c.h5").exists()


def corn_csv(shared_data, name):
    table = np.loadtxt(shared_data / f"nir/Cargill_Corn/{name}", delimiter=",", skiprows=1)
    return 1e7 / np.arange(1100.0, 2499.0, 2.0), table


def spectra_shard_from(tmp_path, stem, x, table, source="local"):
    """Run a table through the real stage: parsed shard -> process_shard -> spectra shard."""
    records = [(x, row, "nir", source, f"{stem}-{i}") for i, row in enumerate(table)]
    write_parsed(tmp_path / f"{stem}.parquet", records)
    out = tmp_path / f"{stem}.h5"
    process_shard(tmp_path / f"{stem}.parquet", out, tmp_path / f"{stem}.q.csv")
    return out


@pytest.fixture(scope="module")
def corn_fingerprints(shared_data):
    corn = load_benchmark("corn", [shared_data / "corn.mat"])
    return BenchmarkFingerprints.from_spectra(benchmark_sets(corn))


def test_corn_spectra_are_refused_and_dough_passes(tmp_path, shared_data, corn_fingerprints):
    x, m5 = corn_csv(shared_data, "m5_spectra.csv")
    corn_shard = spectra_shard_from(tmp_path, "corn_m5", x, m5)
    with pytest.raises(InputError, match=r"corn_m5.h5: 80 rows match benchmark.*'local'"):
        build_corpus([corn_shard], tmp_path / "c.h5", 0.2, 0, fingerprints=corn_fingerprints)
    # a re-export: 5 significant digits, first point cropped, 10 of the 80 rows among others
    _, mp6 = corn_csv(shared_data, "mp6_spectra.csv")
    noisy = np.array([[float(f"{v:.5g}") for v in row] for row in mp6[:10]])
    dough = np.genfromtxt(
        shared_data / "nir/Dough_NIR/Dough_NIR.csv", delimiter=",", skip_header=1
    )[:, 5:]
    mixed = spectra_shard_from(tmp_path, "mixed", x[1:], np.vstack([dough[:, 1:], noisy[:, 1:]]))
    with pytest.raises(InputError, match="mixed.h5: 10 rows"):
        build_corpus([mixed], tmp_path / "c.h5", 0.2, 0, fingerprints=corn_fingerprints)
    assert not (tmp_path / "c.h5").exists()
    # the real pipeline on a non-benchmark NIR set: process -> augment -> corpus passes
    dough_shard = spectra_shard_from(tmp_path, "dough", x, dough)
    augment_shard(dough_shard, tmp_path / "dough_aug.h5", 2, 30.0, 0.1, 2.0, (0.9, 1.1), seed=0)
    stats = build_corpus(
        [tmp_path / "dough_aug.h5"], tmp_path / "c.h5", 0.25, 0, fingerprints=corn_fingerprints
    )
    assert stats["n_rows"] == 72 * 3


def test_fingerprints_round_trip_without_pickle(tmp_path, shared_data, corn_fingerprints):
    x, mp5 = corn_csv(shared_data, "mp5_spectra.csv")
    with h5py.File(spectra_shard_from(tmp_path, "mp5", x, mp5[:20])) as f:
        spectra, axis = f["spectra"][:], f["axis"][:]
    corn_fingerprints.save(tmp_path / "fp.npz")
    loaded = BenchmarkFingerprints.load(tmp_path / "fp.npz")
    assert loaded.find_benchmark_rows(spectra, axis).all()
    shifted = axis + 500.0  # same shape on another range: not corn
    assert not loaded.find_benchmark_rows(spectra, shifted).any()
    (tmp_path / "junk.npz").write_bytes(b"not numpy")
    with pytest.raises(InputError, match="junk.npz"):
        BenchmarkFingerprints.load(tmp_path / "junk.npz")


def test_stats_json_and_example_plot(tmp_path, two_shards):
    stats = build_corpus(two_shards, tmp_path / "corpus.h5", 0.2, seed=0)
    quarantine = tmp_path / "q.csv"
    quarantine.write_text(
        "source,sample_id,reason\nrruff,x1,flat: std 0 ~ 0\nrruff,x2,non_finite: 3\n"
        "openspecy,y,flat: std 0 ~ 0\n"
    )
    written = write_stats(stats, tmp_path / "stats.json", [quarantine])
    on_disk = json.loads((tmp_path / "stats.json").read_text())
    assert on_disk == written
    assert on_disk["quarantined"] == {
        "total": 3,
        "by_source": {"openspecy": 1, "rruff": 2},
        "by_reason": {"flat": 2, "non_finite": 1},
    }
    assert on_disk["duplicates_removed"] == 15
    assert sum(on_disk["rows_by_split"].values()) == 485
    plot_examples(tmp_path / "corpus.h5", tmp_path / "examples.png")
    assert (tmp_path / "examples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def row_index(path):
    with h5py.File(path) as f:
        spectra = f["spectra"][:]
        split = f["meta/split"].asstr()[:]
    return {row.tobytes(): i for i, row in enumerate(spectra)}, split


def seen_rows(loader, index):
    rows = []
    for spectrum, axis, domain in loader:
        assert spectrum.dtype == axis.dtype == torch.float32 and axis.shape[1:] == (2,)
        assert domain.dtype == torch.int64
        rows += [index[s.numpy().tobytes()] for s in spectrum]
    return rows


def test_dataset_with_two_workers_sees_each_train_row_once(tmp_path, two_shards):
    build_corpus(two_shards, tmp_path / "corpus.h5", 0.2, seed=0)
    index, split = row_index(tmp_path / "corpus.h5")
    dataset = CorpusDataset(tmp_path / "corpus.h5", "train", block_size=32, seed=3)
    loader = DataLoader(dataset, batch_size=16, num_workers=2)
    first = seen_rows(loader, index)
    train = set(np.flatnonzero(split == "train"))
    assert len(first) == len(train) == dataset.n_rows and set(first) == train
    dataset.set_epoch(1)
    second = seen_rows(loader, index)
    assert sorted(second) == sorted(first) and second != first
    val = seen_rows(DataLoader(CorpusDataset(tmp_path / "corpus.h5", "val"), 64), index)
    assert sorted(val) == sorted(np.flatnonzero(split == "val"))


def test_ranks_and_workers_partition_without_overlap(tmp_path, two_shards):
    build_corpus(two_shards, tmp_path / "corpus.h5", 0.2, seed=0)
    index, split = row_index(tmp_path / "corpus.h5")
    per_rank = []
    for rank in range(2):
        ds = CorpusDataset(tmp_path / "corpus.h5", block_size=16, rank=rank, world_size=2)
        per_rank.append(seen_rows(DataLoader(ds, batch_size=8, num_workers=2), index))
    assert not set(per_rank[0]) & set(per_rank[1])
    assert sorted(per_rank[0] + per_rank[1]) == sorted(np.flatnonzero(split == "train"))
    with pytest.raises(InputError, match="rank"):
        CorpusDataset(tmp_path / "corpus.h5", rank=2, world_size=2)


def test_tablet_fingerprints_recognise_a_tablet_reexport_and_not_corn(tmp_path, shared_data):
    csvs = [shared_data / "Pharma_Instrument1.csv", shared_data / "Pharma_Instrument2.csv"]
    fingerprints = BenchmarkFingerprints.from_spectra(
        benchmark_sets(load_benchmark("tablet", csvs))
    )
    header = (shared_data / "Pharma_Instrument2.csv").read_text().split("\n", 1)[0].split(",")
    nm = np.array([float(h) for h in header[4:]])
    rows = np.loadtxt(
        shared_data / "Pharma_Instrument1.csv", delimiter=",", skiprows=1, usecols=range(4, 654)
    )[::50]
    noisy = np.array([[float(f"{v:.5g}") for v in row] for row in rows])
    tablet = spectra_shard_from(tmp_path, "tablet", 1e7 / nm, noisy)
    x, m5 = corn_csv(shared_data, "m5_spectra.csv")
    corn = spectra_shard_from(tmp_path, "corn", x, m5[:10])
    for shard, expected in ((tablet, len(rows)), (corn, 0)):
        with h5py.File(shard) as f:
            mask = fingerprints.find_benchmark_rows(f["spectra"][:], f["axis"][:])
        assert mask.sum() == expected
