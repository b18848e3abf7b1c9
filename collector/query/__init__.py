"""Query APIs on :16686: Jaeger v1/v3, the graph and analysis APIs."""
