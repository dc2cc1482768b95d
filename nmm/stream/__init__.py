"""The real-time path (issue 22): the causal NMM and painsig's indices on a stream of samples.

Modules:

- :mod:`~nmm.stream.filters` :class:`StreamingChain`, a causal preprocessing chain
  (:meth:`nmm.data.preprocess.Chain.from_steps` with ``causal=True``) run chunk by chunk with
  its state carried between chunks: the concatenated outputs equal the chain applied offline.

The package reads no config and writes no run folder: the app (``nmm.jobs``) builds its objects.
"""
