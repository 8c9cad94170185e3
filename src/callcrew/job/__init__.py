"""One LiveKit job = one call: channel detection, session start, call control, report."""
