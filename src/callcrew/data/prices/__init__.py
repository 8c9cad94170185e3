"""Built-in price catalogs (YAML), read via importlib.resources so they ship in the wheel."""
