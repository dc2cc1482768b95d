"""Cohort folders generated once and reused: the default cohort and the generator variants.

A job, not part of the generator: it composes the ``synth`` config from ``conf/`` by name,
converts it to a plain mapping at once, and keeps a folder per config. A cohort folder holds
what :func:`nmm.synth.cohort.generate_cohort` writes (``dataset/``, ``ground_truth/``,
``figures/``) plus ``metrics.json`` (with ``generation_s``, the wall time in s of the generation
that made it), ``config.yaml`` (the seed and the ``synth`` config) and ``cohort.fingerprint``;
:func:`ensure_cohort` reuses it while the fingerprint of the config, the seed, the ``.osim``'s
content and :data:`~nmm.synth.output.FORMAT_VERSION` is unchanged, and regenerates it through
``<root>.tmp`` otherwise. :func:`ensure_default_cohort` (``data/default_cohort/``, committed)
and :func:`ensure_variant_cohort` (``outputs/cache/cohorts/``, docs/cohort_family.md) compose
the config of a cohort.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from nmm.atomic import atomic_write_json
from nmm.config import CONF_DIR, compose_config
from nmm.opensim.geometry_sampling import file_sha256
from nmm.synth.cohort import generate_cohort
from nmm.synth.config import SynthConfigError
from nmm.synth.output import FORMAT_VERSION
from nmm.synth.settings import SynthSettings

__all__ = [
    "DEFAULT_ROOT",
    "FAMILY",
    "FINGERPRINT",
    "VARIANT_ROOT",
    "ensure_cohort",
    "ensure_default_cohort",
    "ensure_variant_cohort",
    "fingerprint",
    "variant_names",
    "variant_root",
]

_REPO = Path(CONF_DIR).parent
#: The embedded default cohort (committed; regenerated in place when its fingerprint changes).
DEFAULT_ROOT = _REPO / "data" / "default_cohort"
#: Where generator variants' cohorts are cached, one folder each (git-ignored).
VARIANT_ROOT = _REPO / "outputs" / "cache" / "cohorts"
#: The file of a cohort folder holding its fingerprint.
FINGERPRINT = "cohort.fingerprint"
#: The cohort family: generator variants of conf/synth/ that change how the truth of one session
#: is made, for judging the NMM beyond the default cohort (docs/cohort_family.md). Not in it:
#: ``tiny`` (a size) and ``longitudinal`` (sessions for monitoring; its sessions reuse solved
#: trials with scaled drive, not dynamically consistent, so no model is trained or scored on it).
FAMILY = (
    "default",
    "no_mvic",
    "shoulder_elevated",
    "cocontraction",
    "few_trials",
    "low_snr",
    "speeds_rom",
)


def fingerprint(synth: Mapping[str, Any], seed: int) -> str:
    """SHA-256 of the plain ``synth`` config, seed and format version. The ``.osim`` enters by
    its content, not its path, so the embedded cohort is reused from any clone and any working
    directory."""
    synth = dict(synth)
    if synth.get("osim") and Path(synth["osim"]).is_file():
        synth["osim"] = "sha256:" + file_sha256(synth["osim"])
    text = json.dumps({"cfg": synth, "seed": int(seed), "version": FORMAT_VERSION}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _is_current(root: Path, stamp: str) -> bool:
    fp = root / FINGERPRINT
    return (
        fp.is_file()
        and fp.read_text().strip() == stamp
        and (root / "dataset" / "manifest.yaml").is_file()
    )


def ensure_cohort(
    synth: Mapping[str, Any], seed: int, root: str | os.PathLike[str], workers: int | None = None
) -> Path:
    """``root`` holding the cohort of the plain ``synth`` config and ``seed``: reused when its
    fingerprint matches, else generated through ``<root>.tmp`` and moved into place. workers:
    OpenSim processes (None: ``synth.workers``); not part of the fingerprint, since it does not
    change the files. SynthConfigError for a config the generator cannot use."""
    settings = SynthSettings.from_mapping(synth)
    root = Path(root)
    stamp = fingerprint(synth, seed)
    if _is_current(root, stamp):
        return root
    tmp = root.with_name(root.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    t0 = time.perf_counter()
    metrics = generate_cohort(settings, tmp, seed, workers=workers)
    metrics["generation_s"] = time.perf_counter() - t0
    atomic_write_json(tmp / "metrics.json", metrics)
    (tmp / "config.yaml").write_text(
        OmegaConf.to_yaml(OmegaConf.create({"seed": seed, "synth": dict(synth)})),
        encoding="utf-8",
    )
    (tmp / FINGERPRINT).write_text(stamp + "\n", encoding="utf-8")
    shutil.rmtree(root, ignore_errors=True)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(root)
    return root


def _compose(config: str, overrides: Sequence[str]) -> tuple[dict[str, Any], int]:
    """The plain ``synth`` node and the ``seed`` of ``conf/<config>.yaml`` with ``overrides``."""
    cfg = compose_config(config, list(overrides))
    return OmegaConf.to_container(cfg.synth, resolve=True), int(cfg.get("seed", 0))


def ensure_default_cohort(
    root: str | os.PathLike[str] | None = None,
    overrides: Sequence[str] = (),
    *,
    config: str = "synth",
) -> Path:
    """The default cohort's folder, generated on first use and then reused (:func:`ensure_cohort`).

    Its config and seed are ``conf/<config>.yaml`` (``conf/synth.yaml``) composed with
    ``overrides`` (overrides of that app config: ``synth=tiny``, ``synth.n_subjects=2``,
    ``seed=1``). root: the folder; by default :data:`DEFAULT_ROOT` (``data/default_cohort/`` of
    the repository, committed) for the configured cohort, and for any other config a folder of
    its own under :data:`VARIANT_ROOT` named by its fingerprint, so overrides never replace the
    committed cohort. Returns the folder; the dataset is its ``dataset/`` (``read_dataset``), the
    truth its ``ground_truth/``.
    """
    synth, seed = _compose(config, overrides)
    if root is None:
        root = _default_root(config, overrides, fingerprint(synth, seed))
    return ensure_cohort(synth, seed, root)


def _default_root(config: str, overrides: Sequence[str], stamp: str) -> Path:
    """:data:`DEFAULT_ROOT` for the configured cohort (no overrides), or for overrides that
    leave its fingerprint as it is; otherwise ``outputs/cache/cohorts/<config>-<fingerprint>``."""
    if (config == "synth" and not overrides) or _is_current(DEFAULT_ROOT, stamp):
        return DEFAULT_ROOT
    return VARIANT_ROOT / f"{config}-{stamp[:12]}"


def variant_names() -> list[str]:
    """The cohort family (docs/cohort_family.md): :data:`FAMILY`, the generator variants that
    change how the truth is made (``tiny``, a size, is not one)."""
    return list(FAMILY)


def _synth_options() -> list[str]:
    """Every option of the ``synth`` config group (``conf/synth/*.yaml``)."""
    return sorted(p.stem for p in (Path(CONF_DIR) / "synth").glob("*.yaml"))


def _synth_override(override: str) -> str:
    """A Hydra override of the ``synth`` node (``n_subjects=2``, ``+mvic.include=false``) as
    one of the ``synth`` app config (``synth.n_subjects=2``); ``synth.``-prefixed ones pass."""
    sign = override[: len(override) - len(override.lstrip("+~"))]
    body = override[len(sign) :]
    return override if body.startswith("synth.") else f"{sign}synth.{body}"


def variant_root(name: str, overrides: Sequence[str] = (), seed: int = 0) -> Path:
    """The default cache folder of a variant's cohort: ``outputs/cache/cohorts/<name>`` for
    the variant as configured (seed 0), ``<name>-<8 hex digits>`` (a hash of the overrides and
    seed) otherwise, so a small and a full cohort of one variant do not replace each other."""
    if not overrides and seed == 0:
        return VARIANT_ROOT / name
    text = json.dumps({"overrides": list(overrides), "seed": int(seed)})
    return VARIANT_ROOT / f"{name}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:8]}"


def ensure_variant_cohort(
    name: str,
    root: str | os.PathLike[str] | None = None,
    overrides: Sequence[str] = (),
    *,
    seed: int = 0,
    workers: int | None = None,
) -> Path:
    """The folder of a generator variant's cohort, generated once and then reused.

    A variant is an option of the ``synth`` config group (``conf/synth/<name>.yaml``): one of
    the cohort family (:func:`variant_names`: ``default``, ``no_mvic``,
    ``shoulder_elevated``, ``cocontraction``, ``few_trials``, ``low_snr``, ``speeds_rom``;
    docs/cohort_family.md), ``tiny`` or ``longitudinal``. Its config is ``conf/synth.yaml``
    composed with ``synth=<name>`` and then ``overrides``.

    Args:
        name: the variant.
        root: the cache folder; default :func:`variant_root` (``outputs/cache/cohorts/<name>``,
            git-ignored, with a hash suffix when overrides or a seed are given). A root holds
            one cohort: another config given the same root replaces it.
        overrides: Hydra overrides of the ``synth`` node, e.g. ``["n_subjects=2",
            "task.cycles_per_trial=1"]`` (a ``synth.`` prefix is accepted too).
        seed: the generator's seed.
        workers: parallel OpenSim processes for a generation (default ``synth.workers``); it
            does not change the files, so it is not part of the fingerprint.

    Returns:
        The folder (module docstring): ``dataset/`` (``nmm.data.io.read_dataset``; what a model
        may read, with the set-up a model must be told in its subjects' metadata: see
        :func:`~nmm.synth.model_inputs.variant_physics_overrides`), ``ground_truth/`` (for
        evaluation only), ``metrics.json``, ``config.yaml`` and ``cohort.fingerprint``.

    Raises:
        SynthConfigError: for an unknown variant or a config the generator cannot use.
    """
    names = _synth_options()
    if name not in names:
        raise SynthConfigError(f"unknown synth variant {name!r} (conf/synth/: {', '.join(names)})")
    synth, _ = _compose("synth", [f"synth={name}", *map(_synth_override, overrides)])
    folder = Path(root) if root is not None else variant_root(name, overrides, seed)
    return ensure_cohort(synth, int(seed), folder, workers)
