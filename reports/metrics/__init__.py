"""Scores of generated images: Inception metrics through torch-fidelity, the domain classifier, classification-based
scores, and the cached per-generator metrics file."""
