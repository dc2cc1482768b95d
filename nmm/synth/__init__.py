"""The synthetic elbow cohort with OpenSim ground truth (the embedded default dataset).

Deep-muscle EMG cannot be measured non-invasively; a cohort simulated in OpenSim gives the missing
truth. **Labels on synthetic data test the pipeline, not physiology.** Entry point:
:func:`~nmm.synth.cohort.generate_cohort` (what ``nmm-synth`` runs), on
:class:`~nmm.synth.settings.SynthSettings` built from a plain ``synth`` mapping; the cohort
folders generated once and reused (the default cohort, the variants of docs/cohort_family.md)
and the ``data=synthetic`` source are jobs of the app layer (:mod:`nmm.jobs.cohorts`,
:mod:`nmm.jobs.synthetic_source`). :func:`~nmm.synth.model_inputs.variant_physics_overrides`
and :func:`~nmm.synth.model_inputs.variant_preprocess_overrides`: what a model must be told
about a variant's set-up, as Hydra overrides. OpenSim is imported only when a cohort is
generated.
"""

from nmm.synth.config import SynthConfigError
from nmm.synth.model_inputs import variant_physics_overrides, variant_preprocess_overrides

__all__ = ["SynthConfigError", "variant_physics_overrides", "variant_preprocess_overrides"]
