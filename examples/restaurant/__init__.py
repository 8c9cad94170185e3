"""The restaurant walkthrough crew: one agent takes a pick-up order from the profile's menu."""
