"""Benchmarks: one module per topic, each printing a table with ratios against a reference measured in the
same run. ``python -m benchmarks`` runs the quick ones; ``python -m benchmarks.<name> --help`` for each."""
