"""mirrors package."""
