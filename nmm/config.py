"""Where the Hydra configs live: `conf/` at the repository root (the project installs editable)."""

from pathlib import Path

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")
