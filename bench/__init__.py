"""The benchmarks (`python -m bench <suite>`, `python -m bench.<module>`): docs/benchmarks.md."""
