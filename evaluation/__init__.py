"""Evaluation, calibration and benchmarks of the search (apart from retrieval/, the serving code)."""
