"""The calibration-transfer workflow end to end on the real corn and tablet data, small grids."""

from __future__ import annotations

import csv
import shutil
import zipfile

import pytest
from workflow_helpers import mirror_with, snakemake, write_config

from spectralfm.transfer.protocol import ROW_COLUMNS

pytestmark = pytest.mark.workflow

SMALL_CORN = {
    "transfer": {
        "corn": {
            "pairs": ["m5->mp5", "m5->mp6"],
            "properties": ["moisture", "protein"],
            "n_transfer": [5, 10],
            "selection": ["kennard_stone", "random"],
            "seeds": [0, 1],
            "methods": ["no_transfer", "target_full", "pds", "sbc"],
        }
    }
}


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


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


def test_corn_table_rows_and_columns(corn_run):
    rows = _rows(corn_run / "results/tables/corn_transfer.csv")
    assert list(rows[0]) == ROW_COLUMNS
    # per pair and property: no_transfer 1 + target_full 1 + (pds, sbc) x N(2) x (KS 1 + random 2)
    assert len(rows) == 2 * 2 * (1 + 1 + 2 * 2 * 3)
    assert {r["n_test"] for r in rows} == {"20"}
    by = {
        (
            r["source"],
            r["target"],
            r["property"],
            r["method"],
            r["n_transfer"],
            r["selection"],
            r["seed"],
        ): r
        for r in rows
    }
    no_transfer = float(by[("m5", "mp5", "moisture", "no_transfer", "0", "none", "0")]["rmsep"])
    target_full = float(by[("m5", "mp5", "moisture", "target_full", "60", "none", "0")]["rmsep"])
    pds10 = float(by[("m5", "mp6", "protein", "pds", "10", "kennard_stone", "0")]["rmsep"])
    assert no_transfer > 1.0
    assert target_full <= 0.12
    assert pds10 <= 0.15


def test_corn_summary_figure_and_logs(corn_run):
    assert (corn_run / "results/figures/corn_rmsep_vs_n.png").stat().st_size > 10_000
    summary = _rows(corn_run / "results/tables/corn_transfer_summary.csv")
    random_pds = [r for r in summary if r["method"] == "pds" and r["selection"] == "random"]
    assert random_pds and all(r["n_runs"] == "2" for r in random_pds)
    logs = list((corn_run / "logs/transfer").rglob("*.log"))
    assert len(logs) == 2 * 4
    assert (corn_run / "resources/extracted/eigenvector/corn.mat").is_file()


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


def test_missing_property_names_the_file(tmp_path, shared_data):
    write_config(
        tmp_path,
        {
            "transfer": {
                "corn": {
                    "pairs": ["m5->mp5"],
                    "properties": ["fibre"],
                    "n_transfer": [5],
                    "selection": ["kennard_stone"],
                    "seeds": [0],
                    "methods": ["pds"],
                }
            }
        },
    )
    out = snakemake(
        tmp_path,
        "--cores",
        "1",
        "results/tables/corn_transfer.csv",
        mirror=shared_data / "mirror",
        check=False,
    )
    assert out.returncode != 0
    log = (tmp_path / "logs/transfer/corn/m5-to-mp5/pds.log").read_text()
    assert "fibre" in log and "corn.mat" in log and "moisture" in log
    assert not (tmp_path / "results/transfer/corn/m5-to-mp5/pds.csv").exists()


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
