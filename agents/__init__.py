"""The bundled crew: its agents, their tools and hand-offs (their prompts live in prompts/)."""
