"""The corpus DAG end to end on real files: RRUFF archives from the mirror and a local NIR table."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from workflow_helpers import snakemake, write_config

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory, shared_data):
    workdir = tmp_path_factory.mktemp("corpus")
    write_config(
        workdir,
        {
            "corpus": {
                "sources": ["rruff", "local"],
                "exclude_benchmarks": ["corn"],
                "val_fraction": 0.2,
                "seed": 3,
            },
            "sources": {
                "rruff": {"archives": ["LR-Raman", "Processed"]},
                "local": {
                    "paths": {
                        "dough": {
                            "path": str(shared_data / "nir/Dough_NIR/Dough_NIR.csv"),
                            "modality": "nir",
                            "x_units": "nm",
                        }
                    }
                },
            },
            "augment": {"copies": 2},
        },
    )
    snakemake(workdir, "--cores", "2", "results/corpus/corpus.h5", mirror=shared_data / "mirror")
    return workdir


def test_corpus_layout_counts_and_stats(corpus_run):
    stats = json.loads((corpus_run / "results/corpus/stats.json").read_text())
    with h5py.File(corpus_run / "results/corpus/corpus.h5") as f:
        spectra, axis = f["/spectra"], f["/axis"][:]
        assert spectra.shape[1] == 2048 and spectra.dtype == np.float32
        assert spectra.chunks[1] == 2048 and spectra.chunks[0] > 1  # row blocks
        n = spectra.shape[0]
        source = f["/meta/source"].asstr()[:]
        modality = f["/meta/modality"].asstr()[:]
        sample_id = f["/meta/sample_id"].asstr()[:]
        split = f["/meta/split"].asstr()[:]
        aug = f["/meta/aug_copy"][:]
        block = spectra[:256]
    assert stats["n_rows"] == n
    assert set(source) == {"rruff", "local"}
    assert set(modality) == {"raman", "ir", "nir"}
    assert set(aug) == {0, 1, 2}
    assert np.all(axis[:, 1] > axis[:, 0])
    # SNV rows: mean 0, sd 1
    assert np.allclose(block.mean(axis=1), 0, atol=1e-3)
    assert np.allclose(block.std(axis=1), 1, atol=1e-2)
    # a sample's spectra and augmented copies never cross train/val
    for sid in np.unique(sample_id):
        assert len(set(split[sample_id == sid])) == 1, sid
    assert set(split) == {"train", "val"}
    assert stats["rows_by_split"]["train"] + stats["rows_by_split"]["val"] == n
    assert "quarantined" in stats and "total" in stats["quarantined"]
    assert (corpus_run / "results/corpus/examples.png").stat().st_size > 10_000


def test_downloads_record_size_and_sha256(corpus_run, shared_data):
    manifest = json.loads((corpus_run / "resources/manifests/rruff/LR-Raman.zip.json").read_text())
    assert manifest["size"] == (shared_data / "mirror/rruff/LR-Raman.zip").stat().st_size
    assert len(manifest["sha256"]) == 64
    # the manifest names where the bytes came from, not only the canonical URL
    assert manifest["fetched_via"] == "mirror folder"
    assert "rruff/LR-Raman.zip" in manifest["fetched_from"]


def test_benchmark_spectra_in_a_local_folder_are_refused(tmp_path, shared_data):
    write_config(
        tmp_path,
        {
            "corpus": {"sources": ["local"], "exclude_benchmarks": ["corn"]},
            "sources": {
                "local": {
                    "paths": {
                        "corn_copy": {
                            "path": str(shared_data / "nir/Cargill_Corn/mp6_spectra.csv"),
                            "modality": "nir",
                            "x_units": "nm",
                        }
                    }
                }
            },
        },
    )
    out = snakemake(
        tmp_path,
        "--cores",
        "1",
        "results/corpus/corpus.h5",
        mirror=shared_data / "mirror",
        check=False,
    )
    assert out.returncode != 0
    log = (tmp_path / "logs/corpus/corpus.log").read_text()
    assert "corn" in log and "local" in log
    assert not (tmp_path / "results/corpus/corpus.h5").exists()
    assert not list((tmp_path / "results/corpus").glob("*.h5*"))
