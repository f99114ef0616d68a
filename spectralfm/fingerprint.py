"""Code fingerprints: a stage reruns when the library code it runs changes.

Snakemake reruns a job when its params change; each rule passes the hash of the `spectralfm` modules
that stage executes as a param, so editing e.g. the PDS module reruns only PDS jobs and what follows.
Modules are hashed from their source files without importing them (keeps DAG planning fast).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent


def module_path(module: str) -> Path:
    """'spectralfm.transfer.pds' -> .../spectralfm/transfer/pds.py (or a package's folder)."""
    parts = module.split(".")
    if parts[0] != "spectralfm":
        raise ValueError(f"not a spectralfm module: {module}")
    base = PACKAGE_ROOT.joinpath(*parts[1:])
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if base.is_dir():
        return base
    raise ValueError(f"no source for module {module} (looked for {base}.py and {base}/)")


def code_fingerprint(*modules: str) -> str:
    """sha256 over the source of the given modules (a package: all its .py files), first 16 hex."""
    digest = hashlib.sha256()
    files: set[Path] = set()
    for module in modules:
        path = module_path(module)
        files.update(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    for file in sorted(files):
        digest.update(str(file.relative_to(PACKAGE_ROOT)).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]
