"""The synthetic elbow cohort with OpenSim ground truth (the embedded default dataset).

Deep-muscle EMG cannot be measured non-invasively; a cohort simulated in OpenSim gives the missing
truth. **Labels on synthetic data test the pipeline, not physiology.** Entry points:
:func:`~nmm.synth.cohort.generate_cohort` (what ``nmm-synth`` runs, on
:class:`~nmm.synth.settings.SynthSettings`), :func:`~nmm.synth.cache.ensure_default_cohort`
(generated on first use and reused), :func:`~nmm.synth.cache.ensure_variant_cohort` (a
generator variant of ``conf/synth/``, cached under ``outputs/cache/cohorts/``;
docs/cohort_family.md), :func:`~nmm.synth.source.synthetic_cohort` (the data source of
``data=synthetic``), with :func:`~nmm.synth.model_inputs.variant_physics_overrides` and
:func:`~nmm.synth.model_inputs.variant_preprocess_overrides`: what a model must be told
about a variant's set-up, as Hydra overrides.
OpenSim is imported only when a cohort is generated.
"""

from nmm.synth.config import SynthConfigError
from nmm.synth.model_inputs import variant_physics_overrides, variant_preprocess_overrides

__all__ = [
    "SynthConfigError",
    "ensure_default_cohort",
    "ensure_variant_cohort",
    "generate_cohort",
    "variant_names",
    "variant_physics_overrides",
    "variant_preprocess_overrides",
]
_CACHE = ("ensure_default_cohort", "ensure_variant_cohort", "variant_names")


def __getattr__(name: str):  # lazy: importing the package does not import OpenSim or matplotlib
    if name in _CACHE:
        from nmm.synth import cache

        return getattr(cache, name)
    if name == "generate_cohort":
        from nmm.synth import cohort

        return cohort.generate_cohort
    raise AttributeError(name)
