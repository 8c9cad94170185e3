"""Rehearsals: scripted or LLM-played callers run against the crew, in text or real audio."""
