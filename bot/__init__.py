"""citebot's Discord bot: thin async glue over the retrieval service."""
