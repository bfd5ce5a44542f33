"""One cog per feature: asking (/ask, mentions), browsing sources, admin (/reindex, /add)."""
