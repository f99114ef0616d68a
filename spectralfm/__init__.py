"""SpectralFM: spectral foundation model and calibration-transfer benchmark."""

__version__ = "0.1.0"
