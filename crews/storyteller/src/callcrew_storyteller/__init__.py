"""The storyteller crew: an intro agent, then a story agent with its own model and voice."""
