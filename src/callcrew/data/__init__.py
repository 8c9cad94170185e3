"""Data shipped with the engine: the default business profile, the demo call, price catalogs."""
