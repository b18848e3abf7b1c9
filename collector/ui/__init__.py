"""The collector's web UI: static pages (HTML, CSS, plain JavaScript, no build step) that read the
query, graph and analysis APIs served beside them on :16686."""
