"""Phones: SIP trunks and dispatch rules, outbound dialing, tokens, the LiveKit API client."""
