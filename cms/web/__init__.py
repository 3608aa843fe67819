"""The web layer: the aiohttp application, its middlewares, views, the JSON API and the
core's own default plugins."""
