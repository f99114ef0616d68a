from pathlib import Path

from _setup import setup

log = setup(snakemake)  # noqa: F821

from spectralfm.corpus import build_corpus, plot_examples, write_stats  # noqa: E402
from spectralfm.datasets import read_benchmark  # noqa: E402
from spectralfm.leakage import BenchmarkFingerprints, benchmark_sets  # noqa: E402

sm = snakemake  # noqa: F821
sets = {}
for name in sm.params.exclude:
    # as the files hold them: a sample quarantined from the benchmark is still refused here
    sets.update(benchmark_sets(read_benchmark(name, list(sm.input[name]))))
fingerprints = BenchmarkFingerprints.from_spectra(sets) if sets else None
log.info("refusing spectra of benchmark sets: %s", sorted(sets) or "none")

stats = build_corpus(
    [Path(p) for p in sm.input.shards],
    Path(sm.output.corpus),
    val_fraction=sm.params.val_fraction,
    seed=sm.params.seed,
    fingerprints=fingerprints,
    config_fingerprint=f"{sm.params.code} seed={sm.params.seed}",  # the code that built it
)
written = write_stats(stats, Path(sm.output.stats), [Path(p) for p in sm.input.quarantine])
plot_examples(Path(sm.output.corpus), Path(sm.output.figure))
log.info("corpus: %s", written)
