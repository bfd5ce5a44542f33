"""Getting news into the articles folder: guarded downloads and subscriptions to feeds.

``fetch`` downloads a page or a feed without letting a URL reach private addresses;
``feeds`` keeps the subscriptions and saves new items as articles with their metadata.
Nothing here indexes: the caller runs the indexer on the folder afterwards.
"""
