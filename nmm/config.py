"""Where the Hydra configs live (`conf/` at the repository root; the project installs editable),
and composing one of them from code, inside a running Hydra app or outside one."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")


def compose_config(name: str, overrides: Sequence[str] = ()) -> Any:
    """``conf/<name>.yaml`` composed with ``overrides`` (a DictConfig).

    Inside a running Hydra app (``GlobalHydra`` initialised, with this project's search path)
    it composes directly; otherwise it initialises Hydra on :data:`CONF_DIR` for the call.
    """
    if GlobalHydra.instance().is_initialized():
        return compose(config_name=name, overrides=list(overrides))
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name=name, overrides=list(overrides))
