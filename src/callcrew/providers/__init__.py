"""STT, LLM and TTS providers for a call: stacks, fallbacks, local models, session wiring."""
