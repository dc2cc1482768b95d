"""The OpenSim twin: read ``.osim`` models and sample them with OpenSim itself.

Modules here import :mod:`opensim` inside their functions, so importing them is cheap and
works where OpenSim is absent (the functions then raise :class:`ImportError`).
"""
