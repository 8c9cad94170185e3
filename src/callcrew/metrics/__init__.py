"""What calls cost and how fast they answered: reports, pricing, statistics, sinks, `calls`."""
