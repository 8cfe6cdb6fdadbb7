"""Models of the pipeline and operator-added models: listing, enabling, re-embedding."""
