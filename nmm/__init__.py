"""nmm: the neural musculoskeletal model and the data layer it reads from."""

__version__ = "0.1.0"
