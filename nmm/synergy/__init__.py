"""Muscle synergy extrapolation (SynX, the "MSE" baseline the NMM is compared with).

After Bianco et al. 2018 (Front. Comput. Neurosci.) and Ao et al. 2022 (Front. Bioeng.
Biotechnol. 10:962959), as the NMSM Pipeline implements it (rcnl-org/nmsm-core,
``src/MuscleTendonPersonalization/SynergyExtrapolation``): the measured EMG envelopes are
factorised into a few synergies, the unmeasured muscles' envelopes are weighted sums of the
synergy excitations, and the weights, residual excitations of the measured muscles and the
personalised muscle parameters are fitted together so that the muscle torque of the elbow
tracks inverse dynamics. Modules:

- :mod:`~nmm.synergy.settings` :class:`SynXSettings`, the options of ``conf/mse/synx.yaml``;
- :mod:`~nmm.synergy.factorise` NMF (multiplicative updates, replicates) and PCA;
- :mod:`~nmm.synergy.commands` normalised envelopes and their synergy commands per group;
- :mod:`~nmm.synergy.extrapolate` the torch model of excitations from synergies;
- :mod:`~nmm.synergy.cost` the fit's cost terms on a batch of windows;
- :mod:`~nmm.synergy.fit` :func:`fit_synx`, the joint fit and whole-trial reconstructions.

The package reads no config: the app (:mod:`nmm.compare.mse`) builds the settings and the
personalised elbow and passes them in.
"""
