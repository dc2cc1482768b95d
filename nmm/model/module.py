"""The NMM as a LightningModule: network and personalised physics trained together.

The network, the physics (with its table of personalised parameters), the loss and a *partial*
optimizer are injected (Hydra ``_target_``/``_partial_``, as in the lightning-hydra-template), so
the module holds no construction logic. One step:

    ê = net(x)                                  (B, T, M) envelopes in [0, 1]
    u, a, τ_mus = physics(ê, subject, θ, θ̇)     personalised (nmm.model.physics)
    L = PhysicsInformedLoss(ê, e, τ_mus, τ_ID, priors)

With ``use_measured`` the physics is driven as reconstruction drives it
(:func:`nmm.model.reconstruct.reconstruct`): the recorded envelopes of the measured muscles and
the network's of the hidden ones (:func:`nmm.model.physics.with_measured`); the network's
measured-muscle outputs then meet the data term only.

Two parameter groups: the network's (the optimizer's learning rate and weight decay) and the
personalised parameters (``parameter_lr``, no weight decay: their prior is in the loss). With
``freeze_network`` only the parameters train (personalising new subjects).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from lightning.pytorch import LightningModule
from torch import Tensor, nn

from nmm.model.loss import LOSS_TERMS, PhysicsInformedLoss
from nmm.model.physics import PersonalisedElbow, PhysicsOutput, with_measured

__all__ = ["NMMModule"]


class NMMModule(LightningModule):
    """Transformer + personalised elbow, trained with the physics-informed loss.

    Args:
        net: ``(B, T, F) -> (B, T, M)`` in [0, 1] (:class:`nmm.model.encoder.NMMEncoder`).
        physics: the personalised elbow (one parameter row per subject of ``subject_ids``).
        loss: the physics-informed loss.
        optimizer: partial optimizer, called with the parameter groups.
        subject_ids: the parameter table's rows.
        parameter_lr: learning rate of the personalised parameters (default: the optimizer's).
        scheduler: optional partial LR scheduler, called with the optimizer.
        freeze_network: train the personalised parameters only.
        use_measured: drive the physics with the recorded envelopes of the measured muscles (as
            reconstruction does) instead of the network's.
        metadata: stored in checkpoints under ``"nmm"`` (muscles, inputs, config, ...).
    """

    def __init__(
        self,
        net: nn.Module,
        physics: PersonalisedElbow,
        loss: PhysicsInformedLoss,
        optimizer: Callable[..., torch.optim.Optimizer],
        subject_ids: Sequence[str],
        parameter_lr: float | None = None,
        scheduler: Callable[..., Any] | None = None,
        freeze_network: bool = False,
        use_measured: bool = False,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if len(subject_ids) != physics.n_subjects:
            raise ValueError(
                f"{len(subject_ids)} subject ids for a parameter table of {physics.n_subjects} rows"
            )
        self.net, self.physics, self.loss = net, physics, loss
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.subject_ids = list(subject_ids)
        self.parameter_lr = parameter_lr
        self.freeze_network = bool(freeze_network)
        self.use_measured = bool(use_measured)
        self.metadata = dict(metadata or {})
        self.on_train_epoch_start()  # the loss terms' sums of the epoch (training_step)
        self.register_buffer(
            "prior_scales",
            loss.prior_scales(physics.parameters_table.columns).to(torch.get_default_dtype()),
            persistent=False,
        )
        if self.freeze_network:
            self.net.requires_grad_(False)

    # ------------------------------------------------------------------ forward and loss

    def forward(self, x: Tensor, valid: Tensor | None = None) -> Tensor:
        """Envelopes ``(B, T, M)`` in [0, 1] from features ``(B, T, F)``."""
        padding = None if valid is None else ~valid
        return self.net(x, padding)

    def compute(
        self, batch: Mapping[str, Tensor]
    ) -> tuple[dict[str, Tensor], Tensor, PhysicsOutput]:
        """Loss terms, envelopes and physics of a batch (keys of :class:`WindowDataset`)."""
        if self.freeze_network:
            self.net.eval()
        env = self(batch["x"], batch["valid"])
        drive = (
            with_measured(env, batch["envelopes"], batch["measured"]) if self.use_measured else env
        )
        phys = self.physics(drive, batch["subject"], batch["angle"], batch["velocity"])
        rows = torch.unique(batch["subject"])
        terms = self.loss.of_batch(
            env, batch, phys, self.physics.prior_deviation(rows), self.prior_scales
        )
        return terms, env, phys

    def on_train_epoch_start(self) -> None:
        self._train_term_sums: Tensor | None = None
        self._train_count = 0

    def training_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        terms, _, _ = self.compute(batch)
        n = int(batch["x"].shape[0])
        self.log("train/loss", terms["total"], prog_bar=True, batch_size=n)
        # The terms' epoch means are summed here and logged once an epoch: a Lightning log call
        # per term and step cost 4 % of the training speed (bench_nmm.py --quick: 8.5 vs 8.9
        # steps/s).
        sums = n * torch.stack([terms[k].detach() for k in LOSS_TERMS])
        prev = self._train_term_sums
        self._train_term_sums = sums if prev is None else prev + sums
        self._train_count += n
        # the terms go to the training budget's plateau rule (nmm.model.budget.ConvergenceStop)
        return {"loss": terms["total"], "terms": sums.detach() / n}

    def on_train_epoch_end(self) -> None:
        if self._train_term_sums is not None:
            means = self._train_term_sums / self._train_count
            self.log_dict({f"train/{k}": v for k, v in zip(LOSS_TERMS, means, strict=True)})

    def validation_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> Tensor:
        terms, _, phys = self.compute(batch)
        n = int(batch["x"].shape[0])
        self.log("val/loss", terms["total"], prog_bar=True, batch_size=n)
        self.log_dict({f"val/{k}": terms[k] for k in LOSS_TERMS}, batch_size=n)
        mask = batch["valid"].clone()
        mask[:, : self.loss.burn_in] = False
        err = ((phys.torque - batch["torque"]) ** 2 * mask).sum() / mask.sum().clamp_min(1)
        self.log("val/torque_rmse_nm", err.sqrt(), prog_bar=True, batch_size=n)
        return terms["total"]

    # ------------------------------------------------------------------ optimisation

    def configure_optimizers(self) -> Any:
        groups: list[dict[str, Any]] = []
        if not self.freeze_network:
            groups.append({"params": [p for p in self.net.parameters() if p.requires_grad]})
        physics_group: dict[str, Any] = {
            "params": list(self.physics.parameters_table.parameters()),
            "weight_decay": 0.0,
        }
        if self.parameter_lr is not None:
            physics_group["lr"] = float(self.parameter_lr)
        groups.append(physics_group)
        optimizer = self.optimizer_factory(params=groups)
        if self.scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": self.scheduler_factory(optimizer)}

    # ------------------------------------------------------------------ checkpoints

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["nmm"] = {**self.metadata, "subject_ids": list(self.subject_ids)}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.get("nmm", {}).get("subject_ids")
        if saved is not None and list(saved) != self.subject_ids:
            raise ValueError(
                f"checkpoint was trained on subjects {saved}, this module has {self.subject_ids}"
            )
