"""Peak memory and speed of streaming a Raman-ChEMBL SQLite part into a parsed shard.

Builds a synthetic part in the published schema (table `molecule`: id, SMILES, blob_data =
zlib(JSON) with atoms, coord, vib coord, freq, IR Inten, Raman Activ) of about --size-mb, then
streams it through spectralfm.sources.chembl.read_chembl into a Parquet shard in a fresh child
process, so the peak RSS printed is the reader's alone (the builder's memory is not counted).

    .venv/bin/python benchmarks/chembl_streaming_memory.py --size-mb 200

Blobs are drawn from a pool of distinct molecules (generating 1 GB of unique JSON would take
longer than reading it); every row is still decompressed, parsed and broadened by the reader.
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def synthetic_blob(rng: np.random.Generator) -> bytes:
    """One molecule in the Raman-ChEMBL blob layout, with realistic sizes (3N-6 modes)."""
    n_atoms = int(rng.integers(8, 60))
    n_modes = 3 * n_atoms - 6
    freq = np.sort(rng.uniform(30.0, 3700.0, n_modes))
    if rng.random() < 0.05:
        freq[0] = -abs(freq[0])  # an imaginary mode, as real DFT outputs sometimes have
    payload = {
        "atoms": rng.integers(1, 18, n_atoms).tolist(),
        "coord": np.round(rng.normal(0, 3, (n_atoms, 3)), 6).tolist(),
        "vib coord": np.round(rng.normal(0, 0.1, (n_modes, n_atoms, 3)), 5).tolist(),
        "freq": np.round(freq, 4).tolist(),
        "IR Inten": np.round(rng.exponential(20.0, n_modes), 4).tolist(),
        "Raman Activ": np.round(rng.exponential(30.0, n_modes), 4).tolist(),
    }
    return zlib.compress(json.dumps(payload).encode(), 6)


def build_database(path: Path, size_mb: float, pool_size: int = 256, seed: int = 0) -> int:
    """Write a synthetic part of about size_mb megabytes; returns the number of rows."""
    rng = np.random.default_rng(seed)
    pool = [synthetic_blob(rng) for _ in range(pool_size)]
    path.unlink(missing_ok=True)
    connection = sqlite3.connect(path)
    connection.execute(
        "CREATE TABLE molecule (id INTEGER PRIMARY KEY, SMILES TEXT, blob_data BLOB)"
    )
    target = size_mb * 1024 * 1024
    rows, written = 0, 0
    while written < target:
        batch = []
        for _ in range(100):
            blob = pool[rows % pool_size]
            batch.append((rows + 1, f"C{'C' * (rows % 40)}O.{rows}", blob))
            written += len(blob) + 40
            rows += 1
        connection.executemany("INSERT INTO molecule VALUES (?, ?, ?)", batch)
        connection.commit()
    connection.close()
    return rows


def stream(database: Path, shard: Path) -> dict:
    """Child process: read the part into a shard and report rows, seconds and peak RSS."""
    sys.path.insert(0, str(REPO))
    from spectralfm.sources.chembl import read_chembl
    from spectralfm.sources.record import write_parsed_shard

    start = time.perf_counter()
    counts = write_parsed_shard(shard, read_chembl(database))
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes
    return {**counts, "seconds": round(seconds, 1), "peak_rss_mb": round(peak_mb, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=1024.0)
    parser.add_argument("--workdir", type=Path, default=REPO / "benchmarks" / "out" / "chembl")
    parser.add_argument("--keep", action="store_true", help="keep the database and the shard")
    parser.add_argument("--child", nargs=2, metavar=("DATABASE", "SHARD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(stream(Path(args.child[0]), Path(args.child[1]))))
        return

    args.workdir.mkdir(parents=True, exist_ok=True)
    database = args.workdir / "synthetic_raman_chembl.db"
    shard = args.workdir / "synthetic_raman_chembl.parquet"
    start = time.perf_counter()
    rows = build_database(database, args.size_mb)
    size_mb = database.stat().st_size / 1024 / 1024
    seconds = time.perf_counter() - start
    print(f"built {database.name}: {rows} rows, {size_mb:.0f} MB in {seconds:.0f} s")
    child = subprocess.run(
        [sys.executable, __file__, "--child", str(database), str(shard)],
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(child.stdout.strip().splitlines()[-1])
    shard_mb = shard.stat().st_size / 1024 / 1024
    print(
        f"streamed: {result['records']} records ({rows} rows x IR+Raman), "
        f"{result['rejected']} rejected, {result['seconds']} s "
        f"({rows / max(result['seconds'], 1e-9):.0f} rows/s), peak RSS {result['peak_rss_mb']} MB, "
        f"shard {shard_mb:.0f} MB"
    )
    if not args.keep:
        from spectralfm.sources.record import quarantine_path

        database.unlink()
        shard.unlink()
        quarantine_path(shard).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
