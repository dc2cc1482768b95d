"""Indices of one session of contractions, for monitoring a patient across sessions (issue 21).

Pure functions of arrays (an envelope, a contraction's EMG, the bursts of
:mod:`painsig.bursts`) that return values or frozen dataclasses; the monitor app reads the
sessions and calls them. Bad input raises :class:`painsig.registry.FeatureError`.

- :mod:`painsig.indices.trend`: OLS slope with its confidence interval across contractions;
- :mod:`painsig.indices.fatigue`: MNF, MDF and Dimitrov's FInsm5 per contraction, and their
  slopes across a session;
- :mod:`painsig.indices.cocontraction`: co-contraction of two muscles or groups (Falconer &
  Winter 1985; Rudolph et al. 2000);
- :mod:`painsig.indices.timing`: onset lag of one muscle on another, per contraction;
- :mod:`painsig.indices.amplitude`: MVIC-normalised amplitude per contraction.
"""
