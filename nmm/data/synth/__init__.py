"""The synthetic elbow cohort with OpenSim ground truth (the embedded default dataset).

Deep-muscle EMG cannot be measured non-invasively; a cohort simulated in OpenSim gives the missing
truth. **Labels on synthetic data test the pipeline, not physiology.** Entry points:
:func:`~nmm.data.synth.cohort.generate_cohort` (what ``nmm-synth`` runs) and
:func:`~nmm.data.synth.cohort.ensure_default_cohort` (generated on first use and cached).
OpenSim is imported only when a cohort is generated.
"""

from nmm.data.synth.config import SynthConfigError

__all__ = ["SynthConfigError", "ensure_default_cohort", "generate_cohort"]


def __getattr__(name: str):  # lazy: importing the package does not import OpenSim or matplotlib
    if name in ("generate_cohort", "ensure_default_cohort"):
        from nmm.data.synth import cohort

        return getattr(cohort, name)
    raise AttributeError(name)
