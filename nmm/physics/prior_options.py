"""The options of the personalised parameters' priors that configs name, without torch (the
config check of a torch-free app such as ``nmm-validate`` reads them)."""

from __future__ import annotations

__all__ = ["UNCALIBRATED_GAIN_PRIORS"]

#: ``physics.uncalibrated_gain_prior``: the prior of a measured muscle's EMG gain where its
#: envelopes are not in fractions of an MVIC, uniform over its bounds or centred on its initial
#: value (:meth:`nmm.physics.parameters.PersonalisedParameters.expect_uncalibrated_gains`).
UNCALIBRATED_GAIN_PRIORS = ("uniform", "centred")
