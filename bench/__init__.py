"""Benchmarks of the running application (not part of the test suite)."""
