"""glassmesh Grafana dashboards, written as Python and rendered to JSON."""
