"""The bundled themes (templates and static files only), installed as ``cms.themes``."""
