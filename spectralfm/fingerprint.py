"""Code fingerprints: a stage reruns when the library code it runs changes.

Snakemake reruns a job when its params change. Every rule passes, as its `code` param, the
fingerprint of the `spectralfm` modules its workflow script runs. That set is derived from the code,
never kept by hand: the script's import statements, followed transitively through the import
statements of the library modules they reach. Sources are read with `ast`, nothing is imported, so
planning the DAG stays fast and never imports torch. Followed:

* `import spectralfm.a.b`: spectralfm.a.b and the packages it runs (spectralfm, spectralfm.a);
* `from spectralfm.a import b`: spectralfm.a, plus spectralfm.a.b where b is a submodule;
* relative imports (`from . import x`, `from ..a import b`) inside the package;
* imports anywhere in a file: inside functions, `if` branches, `try` blocks.

Not seen: modules imported by name at run time (`importlib.import_module`). The transfer methods
are (`spectralfm.transfer.registry`), so the transfer rule adds the method's module explicitly:
`script_fingerprint("workflow_scripts/transfer.py", method_module(name))`.

The value is readable, one `module=hash` per module (sha256 of its source, first 8 hex), sorted:

    spectralfm.atomic=3f2a9c1d spectralfm.datasets=0b7e44a2 spectralfm.transfer.pds=9d1c0e77 ...

`snakemake -n` prints the old and the new value of a changed param; piped through
`python -m spectralfm.fingerprint changes` it names the modules that differ, per job. And
`python -m spectralfm.fingerprint workflow_scripts/table.py` lists what a script's fingerprint covers.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import re
import sys
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

PACKAGE = "spectralfm"
PACKAGE_ROOT = Path(__file__).resolve().parent

# The one list of modules whose edits rerun nothing, with the reason. Their own imports are still
# followed (whatever they import is covered). tests/test_fingerprint.py checks that each of them
# stays what its reason says: no function, no spectralfm import.
UNFINGERPRINTED: dict[str, str] = {
    "spectralfm": "the package's docstring and __version__: a version bump changes no result",
    "spectralfm.errors": "only the InputError type: its messages are written by the callers",
}

HASH_CHARS = 8
_ENTRY = re.compile(rf"^({PACKAGE}(?:\.\w+)*)=([0-9a-f]{{{HASH_CHARS}}})$")


def module_path(module: str) -> Path:
    """'spectralfm.transfer.pds' -> .../spectralfm/transfer/pds.py (or a package's folder)."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        raise ValueError(f"not a {PACKAGE} module: {module}")
    base = PACKAGE_ROOT.joinpath(*parts[1:])
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if base.is_dir():
        return base
    raise ValueError(f"no source for module {module} (looked for {base}.py and {base}/)")


def code_fingerprint(*modules: str) -> str:
    """sha256 over the source of the given modules (a package: all its .py files), first 16 hex.

    The hand-listed form, kept for rules not yet switched to `script_fingerprint`."""
    digest = hashlib.sha256()
    files: set[Path] = set()
    for module in modules:
        path = module_path(module)
        files.update(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    for file in sorted(files):
        digest.update(str(file.relative_to(PACKAGE_ROOT)).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


# ---- the import graph, read from the sources


def source_file(module: str) -> Path | None:
    """The file a module's code is in (a package: its __init__.py); None if `module` is not a
    module of the package (e.g. a function imported by name: `from spectralfm.a import f`)."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = PACKAGE_ROOT.joinpath(*parts[1:])
    if len(parts) > 1 and base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _executed(module: str) -> list[str]:
    """What `import module` runs: its packages, outermost first, and the module itself."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _import_statements(statements):
    """The import statements among `statements` and in every block nested in them (function and
    class bodies, branches, loops, try/except/finally, with, match): imports are statements, so
    expressions need no visit (several times faster than ast.walk)."""
    for node in statements:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
            continue
        for block in ("body", "orelse", "finalbody", "handlers", "cases"):
            inner = getattr(node, block, None)
            if isinstance(inner, list):
                yield from _import_statements(inner)


def _imported_names(tree: ast.Module, package: str | None) -> list[str]:
    """Dotted names a source's import statements load (`package`: the importing module's package,
    for relative imports; None for a script outside the package)."""
    names: list[str] = []
    for node in _import_statements(tree.body):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if package is None:
                    continue  # a script's relative import never reaches the package
                anchor = package.split(".")
                if node.level - 1 >= len(anchor):
                    raise ValueError(f"relative import beyond the top of {package}")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base == "__future__":
                continue
            names.append(base)
            # `from a import b`: b may be a submodule; resolved against the sources later
            names += [f"{base}.{alias.name}" for alias in node.names if alias.name != "*"]
    return names


@lru_cache(maxsize=4096)
def _parse(path: str, mtime_ns: int, size: int) -> tuple[str, tuple[str, ...]]:
    """(short hash, names its imports load) of one file version: a planning run reads each source
    once, and an edited file is read again."""
    data = Path(path).read_bytes()
    try:
        tree = ast.parse(data, filename=path)
    except SyntaxError as e:
        raise ValueError(f"{path}: cannot read its imports for the code fingerprint: {e}") from None
    return hashlib.sha256(data).hexdigest()[:HASH_CHARS], tuple(_names(tree, path))


def _module_name(path: Path) -> str | None:
    """The dotted name of a file inside the package, else None (a workflow script)."""
    try:
        rel = path.resolve().relative_to(PACKAGE_ROOT)
    except ValueError:
        return None
    parts = [PACKAGE, *rel.with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _names(tree: ast.AST, path: str) -> list[str]:
    module = _module_name(Path(path))
    if module is None:
        package = None
    elif Path(path).name == "__init__.py":
        package = module
    else:
        package = module.rpartition(".")[0]
    return _imported_names(tree, package)


def _read(path: Path) -> tuple[str, tuple[str, ...]]:
    stat = path.stat()
    return _parse(str(path), stat.st_mtime_ns, stat.st_size)


def _closure(roots: Iterable[str]) -> dict[str, Path]:
    """Every package module that importing `roots` runs, transitively: name -> source file."""
    found: dict[str, Path] = {}
    pending = list(roots)
    while pending:
        name = pending.pop()
        for module in _executed(name):
            if module in found:
                continue
            path = source_file(module)
            if path is None:
                continue  # not a module: a name defined in its parent, or outside the package
            found[module] = path
            pending += [n for n in _read(path)[1] if n.split(".")[0] == PACKAGE]
    return found


# roots -> (paths, their stamp, {module: hash}): a planning run asks for the same few sets
# hundreds of times, and the stamp tells when a file changed since.
_COVERED: dict[tuple, tuple[list[Path], list, dict[str, str]]] = {}


def _stamp(paths: list[Path]) -> list:
    out = []
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            return []  # a file went away
        out.append((stat.st_mtime_ns, stat.st_size))
    return out


def _covered(roots: list[str]) -> dict[str, str]:
    """module -> short hash, for everything importing `roots` runs."""
    key = (PACKAGE_ROOT, tuple(sorted(set(roots))))
    cached = _COVERED.get(key)
    if cached is not None and _stamp(cached[0]) == cached[1]:
        return cached[2]
    found = _closure(key[1])
    covered = {module: _read(path)[0] for module, path in found.items()}
    # the folders too: a new module file changes its folder's mtime
    paths = sorted({*found.values(), *(path.parent for path in found.values())})
    _COVERED[key] = (paths, _stamp(paths), covered)
    return covered


def _script(script_path: str | Path) -> Path:
    """A workflow script; a relative path is relative to the workflow root (the folder holding
    spectralfm/ and workflow_scripts/)."""
    path = Path(script_path)
    if not path.is_absolute():
        path = PACKAGE_ROOT.parent / path
    if not path.is_file():
        raise ValueError(f"no workflow script {path}")
    return path


def _roots(script_path: str | Path, extra_modules: Iterable[str]) -> list[str]:
    extra = list(extra_modules)
    for module in extra:
        if source_file(module) is None:
            raise ValueError(f"no source for module {module} under {PACKAGE_ROOT}")
    return [*_read(_script(script_path))[1], *extra]


def script_modules(script_path: str | Path, *extra_modules: str) -> list[str]:
    """Sorted names of every spectralfm module the script runs (plus `extra_modules`, each with
    what it imports), transitively; UNFINGERPRINTED ones included."""
    return sorted(_covered(_roots(script_path, extra_modules)))


def script_fingerprint(script_path: str | Path, *extra_modules: str) -> str:
    """The `code` param of a rule: 'module=hash' for each module in `script_modules` except the
    UNFINGERPRINTED ones, sorted, space-separated."""
    covered = _covered(_roots(script_path, extra_modules))
    return " ".join(
        f"{module}={covered[module]}" for module in sorted(covered) if module not in UNFINGERPRINTED
    )


def parse_fingerprint(value: str) -> dict[str, str]:
    """'spectralfm.a=1234abcd spectralfm.b=...' -> {'spectralfm.a': '1234abcd', ...}."""
    out = {}
    for entry in value.split():
        match = _ENTRY.match(entry)
        if not match:
            raise ValueError(f"not a code fingerprint entry: {entry!r}")
        out[match.group(1)] = match.group(2)
    return out


def changed_modules(before: str, now: str) -> list[str]:
    """What differs between two fingerprints, one line per module:
    'spectralfm.x: 1234abcd -> 5678ef01', '... added', '... removed'."""
    old, new = parse_fingerprint(before), parse_fingerprint(now)
    lines = []
    for module in sorted(set(old) | set(new)):
        if module not in old:
            lines.append(f"{module}: added")
        elif module not in new:
            lines.append(f"{module}: removed")
        elif old[module] != new[module]:
            lines.append(f"{module}: {old[module]} -> {new[module]}")
    return lines


# ---- reading `snakemake -n` output

_QUOTED_FINGERPRINT = re.compile(
    rf"'({PACKAGE}(?:\.\w+)*=[0-9a-f]{{{HASH_CHARS}}}(?: {PACKAGE}(?:\.\w+)*=[0-9a-f]{{{HASH_CHARS}}})*)'"
)


def explain_dry_run(lines: Iterable[str]) -> list[str]:
    """From `snakemake -n` output: for every job planned because its code param changed, the job
    (rule and output) and the modules that changed."""
    report: list[str] = []
    rule, output = None, None
    for line in lines:
        stripped = line.strip()
        if stripped.startswith(("rule ", "localrule ")) and stripped.endswith(":"):
            rule, output = stripped.split()[1].rstrip(":"), None
        elif stripped.startswith("output:"):
            output = stripped.partition(":")[2].strip()
        elif stripped.startswith("reason:") and "Params have changed" in stripped:
            before, _, now = stripped.partition(" before: ")[2].partition(" now: ")
            old = _QUOTED_FINGERPRINT.findall(before)
            new = _QUOTED_FINGERPRINT.findall(now)
            if len(old) != 1 or len(new) != 1:
                continue  # the code param did not change (another param did)
            report.append(f"{rule} ({output}):")
            report += [f"    {entry}" for entry in changed_modules(old[0], new[0])]
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m spectralfm.fingerprint",
        description="Code fingerprints of the workflow's jobs.",
        epilog="snakemake -n TARGET | python -m spectralfm.fingerprint changes   "
        "(the modules that changed, per planned job)",
    )
    parser.add_argument(
        "script",
        help="a workflow script, e.g. workflow_scripts/transfer.py; or 'changes' to read "
        "`snakemake -n` output on stdin",
    )
    parser.add_argument("modules", nargs="*", help="extra modules, e.g. spectralfm.transfer.pds")
    args = parser.parse_args(argv)
    if args.script == "changes":
        report = explain_dry_run(sys.stdin)
        print("\n".join(report) if report else "no job is planned because its code changed")
        return 0
    print("\n".join(script_fingerprint(args.script, *args.modules).split()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
