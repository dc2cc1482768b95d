"""The neural musculoskeletal model (NMM): a transformer-based, physics-informed network.

After Kumar et al. 2025 (arXiv 2503.05201): a transformer encoder reconstructs the envelopes of
every elbow muscle, the deep ones (brachialis, triceps medial head) included, from elbow
kinematics, the load and the measured surface EMG; a differentiable elbow model
(:mod:`nmm.physics`) with 32 personalised parameters per subject ties them to the
inverse-dynamics torque. Modules:

- :mod:`~nmm.model.encoder` the transformer (``(B, T, F)`` -> ``(B, T, M)`` in [0, 1]);
- :mod:`~nmm.model.features` trials -> aligned arrays and per-time-step inputs;
- :mod:`~nmm.model.datamodule` windows of trials, split by subject (Lightning);
- :mod:`~nmm.model.physics` envelopes -> activation -> muscle torque, personalised;
- :mod:`~nmm.model.loss` the physics-informed loss, each term over its allowable error;
- :mod:`~nmm.model.module` the LightningModule;
- :mod:`~nmm.model.personalise` a new subject's parameters with the network frozen;
- :mod:`~nmm.model.reconstruct` whole-trial reconstruction and the files of ``nmm-predict``;
- :mod:`~nmm.model.causal` the causal model (``model.causal``): reconstruction as a stream
  computes it, the physics block by block, what a subject's stream sends;
- :mod:`~nmm.model.evaluate` metrics against the synthetic cohort's ground truth, a LOSO fold;
- :mod:`~nmm.model.settings` the settings and injected parts the pieces take;
- :mod:`~nmm.model.train` building and fitting (the pieces of ``nmm-train``);
- :mod:`~nmm.model.adapt` a trained network adapted to new subjects, or to each of its own;
- :mod:`~nmm.model.checkpoint` a trained NMM's checkpoint read back safely;
- :mod:`~nmm.model.toy` a seconds-fast toy cohort for tests (not for accuracy claims).

The model reads no config and writes no run folder: the apps (:mod:`nmm.jobs`) build its
settings from ``conf/`` (:mod:`nmm.jobs.nmm_setup`) and write what it returns. Importing this
package is cheap: Lightning, OpenSim and matplotlib load in the submodules.
"""
