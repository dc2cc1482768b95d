"""Jobs that the Hydra entry points run: each takes built components and a run directory."""
