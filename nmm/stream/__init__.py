"""The real-time path (issue 22): the causal NMM and painsig's indices on a stream of samples.

Modules:

- :mod:`~nmm.stream.filters` :class:`StreamingChain`, a causal preprocessing chain
  (:meth:`nmm.data.preprocess.Chain.from_steps` with ``causal=True``) run chunk by chunk with
  its state carried between chunks: the concatenated outputs equal the chain applied offline.
- :mod:`~nmm.stream.sources` replays (recorded arrays, an ``.xdf`` file) polled for timestamped
  chunks; :mod:`~nmm.stream.lsl` the live LSL inlets and outlets (pylsl, tested by hand).
- :mod:`~nmm.stream.gaps` a stream's samples on the time base (late dropped, dropped filled).
- :mod:`~nmm.stream.online` painsig's co-contraction and EMG-burst contractions, online, with a
  saved classifier's pain probability.
- :mod:`~nmm.stream.engine` the update loop (every 20 ms) and its latency;
  :mod:`~nmm.stream.server` the live page on 127.0.0.1 (``page.html``, over a websocket).

The package reads no config and writes no run folder: the app (``nmm.jobs``) builds its objects.
"""
