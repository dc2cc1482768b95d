"""A trained NMM's checkpoint read back safely (:func:`read_checkpoint`), for ``nmm-predict``
and the evaluation (:func:`nmm.jobs.trained.load_trained` rebuilds the model around it)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

__all__ = ["read_checkpoint"]


def read_checkpoint(path: str | Path) -> tuple[list[str], dict[str, Any]]:
    """The subject ids (the parameter table's rows) and the ``state_dict`` of an NMM checkpoint.

    Raises:
        ValueError: the checkpoint holds anything but tensors and plain containers (it is
            read with ``weights_only=True``: no code in a file runs), or is not an NMM's.
    """
    path = Path(path)
    try:  # tensors and plain containers only: a checkpoint's pickle may not run code
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ValueError(
            f"{path}: refused, it holds objects other than tensors and plain containers "
            f"(checkpoints are loaded with weights_only=True; {str(exc).splitlines()[0]})"
        ) from exc
    meta = state.get("nmm", {})
    if "subject_ids" not in meta:
        raise ValueError(f"{path}: not an NMM checkpoint (no 'nmm' metadata)")
    return list(meta["subject_ids"]), state["state_dict"]
