"""Load and speed benchmarks (not part of the test run): `python -m bench <name> [options]`."""
