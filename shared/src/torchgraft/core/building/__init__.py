"""Building models: parts, build_model and the family template, composition, the registry, cross-domain towers, and building across processes."""
