"""Speed and accuracy benchmarks; each writes JSON to benchmarks/results/."""
