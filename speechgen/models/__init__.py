"""Models. ``import speechgen.models.registered`` registers every model class by name."""
