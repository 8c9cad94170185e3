"""Example crews, each the code of a walkthrough in docs/crews.md (tests/test_walkthrough.py)."""
