"""The turn-taking corpus (corpus.yaml), its loader, the replay and the detector probe."""
