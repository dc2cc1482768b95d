"""Figures, tables and reports of a run."""
