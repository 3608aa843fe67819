"""cms's own views, registered through ``register_routes`` by ``cms.web.default_plugin``."""
