from _setup import setup

log = setup(snakemake)  # noqa: F821

from spectralfm.augment import augment_shard  # noqa: E402

sm = snakemake  # noqa: F821
counts = augment_shard(
    sm.input[0],
    sm.output[0],
    copies=sm.params.copies,
    noise_snr_db=sm.params.noise_snr_db,
    baseline_drift=sm.params.baseline_drift,
    shift_cm1=sm.params.shift_cm1,
    scale_range=tuple(sm.params.scale_range),
    seed=sm.params.seed,
)
log.info("%s/%s: %s", sm.wildcards.source, sm.wildcards.item, counts)
