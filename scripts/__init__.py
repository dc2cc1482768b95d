"""Thin Hydra entry points; the work lives in nmm/ and painsig/."""
