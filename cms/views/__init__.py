"""cms's own views, registered through ``register_routes`` by ``cms.default_plugin``."""
