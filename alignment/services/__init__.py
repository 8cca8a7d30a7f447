"""Strategic alignment's application services: the only alignment code using the store."""
