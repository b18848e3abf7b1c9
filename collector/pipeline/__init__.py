"""The collector's pipeline: receivers -> processors -> exporters, with connectors between."""
