"""callcrew: a phone voice-agent service on LiveKit Agents."""

__version__ = "0.1.0"
