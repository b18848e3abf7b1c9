"""Load balancers: pick an endpoint of a cluster."""
