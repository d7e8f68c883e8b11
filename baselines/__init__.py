"""baselines: see README."""
