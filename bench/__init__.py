"""Side-by-side benchmarks: direct vs Envoy vs glassmesh."""
