"""The calibration-transfer workflow end to end on the real corn and tablet data, small grids."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import zipfile

import pytest
from workflow_helpers import mirror_with, snakemake, write_config

from spectralfm.results import ROW_COLUMNS

pytestmark = pytest.mark.workflow

SMALL_CORN = {
    "transfer": {
        "corn": {
            "pairs": ["m5->mp5", "m5->mp6"],
            "properties": ["moisture", "protein"],
            "n_transfer": [5, 10],
            "repeats": 2,
            "selection": ["kennard_stone", "random"],
            "seeds": [0, 1],
            "methods": ["no_transfer", "target_full", "pds", "sbc", "coral"],
        }
    },
    # a shared setting, and a method's own entry winning over it
    "method_defaults": {"cv": 4},
    "methods": {"sbc": {"cv": 3}},
}


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def corn_run(tmp_path_factory, shared_data):
    workdir = tmp_path_factory.mktemp("corn")
    write_config(workdir, SMALL_CORN)
    snakemake(
        workdir,
        "--cores",
        "2",
        "results/tables/corn_transfer.csv",
        "results/figures/corn_rmsep_vs_n.png",
        mirror=shared_data / "mirror",
    )
    return workdir


def test_shared_and_own_method_settings_reach_every_row(corn_run):
    rows = _rows(corn_run / "results/tables/corn_transfer.csv")
    folds = {(r["method"], json.loads(r["params"])["cv"]) for r in rows}
    assert folds == {("no_transfer", 4), ("target_full", 4), ("pds", 4), ("coral", 4), ("sbc", 3)}


def test_corn_table_rows_and_columns(corn_run):
    rows = _rows(corn_run / "results/tables/corn_transfer.csv")
    assert list(rows[0]) == ROW_COLUMNS
    # per pair and property: no_transfer and target_full once per split (fixed + 2 random); pds,
    # sbc, coral x N(2) x (KS 1 + random 2 seeds) on the fixed split, x (KS 1 + random 1) per
    # random split
    per_method = 2 * 3 + 2 * 2 * 2
    assert len(rows) == 2 * 2 * (3 + 3 + 3 * per_method)
    assert {r["split"] for r in rows} == {"kennard_stone", "random:0", "random:1"}
    assert {r["n_test"] for r in rows} == {"20"}
    by = {
        (r["source"], r["target"], r["property"], r["method"], r["split"], r["n_transfer"],
         r["selection"], r["seed"]): r
        for r in rows
    }  # fmt: skip
    ks = "kennard_stone"
    no_transfer = float(by[("m5", "mp5", "moisture", "no_transfer", ks, "0", "none", "0")]["rmsep"])
    target_full = float(
        by[("m5", "mp5", "moisture", "target_full", ks, "60", "none", "0")]["rmsep"]
    )
    pds10 = float(by[("m5", "mp6", "protein", "pds", ks, "10", ks, "0")]["rmsep"])
    assert no_transfer > 1.0
    assert target_full <= 0.15
    assert pds10 <= 0.2
    # what each row records: the chosen preprocessing and settings, the unlabeled pool's size
    for r in rows:
        params = json.loads(r["params"])
        assert "master_components" in params and r["preprocessing"]
        assert int(r["unlabeled"]) == (60 - int(r["n_transfer"]) if r["method"] == "coral" else 0)
    # intervals: undefined (empty) below 9 standards, defined at N=10
    pds = [r for r in rows if r["method"] == "pds"]
    assert all(r["picp90"] == "" for r in pds if r["n_transfer"] == "5")
    assert all(r["picp90"] != "" and float(r["mpiw90"]) > 0 for r in pds if r["n_transfer"] == "10")


def test_corn_summary_figure_and_logs(corn_run):
    assert (corn_run / "results/figures/corn_rmsep_vs_n.png").stat().st_size > 10_000
    summary = _rows(corn_run / "results/tables/corn_transfer_summary.csv")
    repeated = [r for r in summary if r["scheme"] == "repeated" and r["method"] == "pds"]
    assert repeated and all(r["n_splits"] == "2" for r in repeated)
    assert all(r["rmsep_lo"] != "" and float(r["rmsep_lo"]) <= float(r["rmsep_mean"])
               for r in repeated)  # fmt: skip
    assert {r["best_method"] for r in summary if r["best_method"]} <= {"pds", "sbc", "coral"}
    logs = list((corn_run / "logs/transfer").rglob("*.log"))
    assert len(logs) == 2 * 5
    assert (corn_run / "resources/extracted/eigenvector/corn.mat").is_file()


def test_identical_runs_give_identical_tables(corn_run, shared_data):
    """A rerun of a transfer job (and so of the table) writes byte-identical files: no timings
    or other run-dependent values in them."""
    table = corn_run / "results/tables/corn_transfer.csv"
    part = corn_run / "results/transfer/corn/m5-to-mp6/sbc.csv"
    before = _sha256(table), _sha256(part)
    snakemake(
        corn_run,
        "--cores",
        "2",
        "--forcerun",
        "results/transfer/corn/m5-to-mp6/sbc.csv",
        "--",
        "results/tables/corn_transfer.csv",
        mirror=shared_data / "mirror",
    )
    assert (_sha256(table), _sha256(part)) == before


def test_nothing_to_do_after_a_finished_run(corn_run, shared_data):
    out = snakemake(
        corn_run, "-n", "results/tables/corn_transfer.csv", mirror=shared_data / "mirror"
    )
    assert "Nothing to be done" in out.stdout + out.stderr


def test_tablet_table_from_csv_export(tmp_path, shared_data):
    mirror = mirror_with(
        tmp_path,
        {
            "chemometricsdata/Pharma_Instrument1.csv": shared_data / "Pharma_Instrument1.csv",
            "chemometricsdata/Pharma_Instrument2.csv": shared_data / "Pharma_Instrument2.csv",
        },
    )
    workdir = tmp_path / "work"
    workdir.mkdir()
    write_config(
        workdir,
        {
            "transfer": {
                "tablet": {
                    "properties": ["assay"],
                    "n_transfer": [10],
                    "selection": ["kennard_stone"],
                    "seeds": [0],
                    "methods": ["no_transfer", "pds"],
                }
            }
        },
    )
    snakemake(workdir, "--cores", "2", "results/tables/tablet_transfer.csv", mirror=mirror)
    rows = _rows(workdir / "results/tables/tablet_transfer.csv")
    assert {r["method"] for r in rows} == {"no_transfer", "pds"}
    assert {r["n_test"] for r in rows} == {"460"}
    assert {r["source"] + "->" + r["target"] for r in rows} == {"1->2"}


# ---- bad input: clear errors, nothing partial left looking complete


def test_unknown_method_is_rejected_before_any_job(tmp_path):
    write_config(tmp_path, {"transfer": {"corn": {"methods": ["pds", "magic_transfer"]}}})
    out = snakemake(tmp_path, "-n", "results/tables/corn_transfer.csv", check=False)
    assert out.returncode != 0
    assert "magic_transfer" in out.stdout + out.stderr
    assert not (tmp_path / "results").exists()


def test_unknown_pair_is_rejected(tmp_path):
    write_config(tmp_path, {"transfer": {"corn": {"pairs": ["m5->mp9"]}}})
    out = snakemake(tmp_path, "-n", "results/tables/corn_transfer.csv", check=False)
    assert out.returncode != 0
    assert "m5->mp9" in (out.stdout + out.stderr) and "transfer.corn.pairs" in (
        out.stdout + out.stderr
    )


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"transfer": {"corn": {"properties": ["protien"]}}},
         ["transfer.corn.properties", "protien", "moisture, oil, protein, starch"]),
        ({"methods": {"pds": {"windw": 3}}}, ["methods.pds", "windw", "window"]),
        ({"methods": {"pds": {"regularization": "auto"}}},
         ["methods.pds.regularization", "'auto' is not available"]),
        ({"methods": {"epo": {"preprocessing": "snv+magic"}}},
         ["methods.epo.preprocessing", "unknown step 'magic'"]),
        ({"methods": {"epo": {"preprocessing": "snv++sg1"}}},
         ["methods.epo.preprocessing", "empty step"]),
        ({"methods": {"epo": {"preprocessing": "sg1(14,2)"}}},
         ["methods.epo.preprocessing", "must be odd"]),
        ({"methods": {"epo": {"preprocessing": "sg1(801,2)"}}},
         ["methods.epo.preprocessing", "longer than the spectrum (700"]),
        ({"transfer": {"corn": {"repeats": 0}}}, ["repeats", "minimum"]),
        ({"transfer": {"sugarcane": {"pairs": ["NIRONE2.2->SCiO"]}}},
         ["transfer.sugarcane.pairs", "NIRONE2.2->SCiO", "1750-2150", "740-1070"]),
        ({"method_defaults": {"windw": 3}}, ["method_defaults (for coral)", "windw"]),
        ({"method_defaults": {"preprocessing": "snv+magic"}},
         ["method_defaults.preprocessing", "unknown step 'magic'"]),
    ],
)  # fmt: skip
def test_bad_config_is_refused_before_any_job(tmp_path, overrides, words):
    write_config(tmp_path, overrides)
    out = snakemake(tmp_path, "-n", "results/tables/corn_transfer.csv", check=False)
    text = out.stdout + out.stderr
    assert out.returncode != 0
    for word in words:
        assert word in text, (word, text[-3000:])
    assert not (tmp_path / "results").exists()


def test_corrupted_corn_member_fails_checksum_and_leaves_nothing(tmp_path, shared_data):
    # A mirror whose corn zip holds a corn.mat with one byte changed.
    original = zipfile.ZipFile(shared_data / "mirror/eigenvector/corn.mat_.zip").read("corn.mat")
    bad = bytearray(original)
    bad[len(bad) // 2] ^= 0xFF
    (tmp_path / "mirror/eigenvector").mkdir(parents=True)
    with zipfile.ZipFile(tmp_path / "mirror/eigenvector/corn.mat_.zip", "w") as z:
        z.writestr("corn.mat", bytes(bad))
    work = tmp_path / "work"
    work.mkdir()
    write_config(
        work,
        {
            "transfer": {
                "corn": {
                    "pairs": ["m5->mp5"],
                    "properties": ["moisture"],
                    "n_transfer": [5],
                    "selection": ["kennard_stone"],
                    "seeds": [0],
                    "methods": ["pds"],
                }
            }
        },
    )
    out = snakemake(
        work,
        "--cores",
        "1",
        "results/tables/corn_transfer.csv",
        mirror=tmp_path / "mirror",
        check=False,
    )
    assert out.returncode != 0
    log = (work / "logs/extract/eigenvector/corn.mat.log").read_text()
    assert "sha256" in log.lower() and "corn.mat" in log
    assert not (work / "resources/extracted/eigenvector/corn.mat").exists()
    assert not list((work / "resources/extracted/eigenvector").glob("corn.mat*"))
    shutil.rmtree(tmp_path / "mirror")
