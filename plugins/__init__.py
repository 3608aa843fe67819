"""cms's built-in plugins, installed as ``cms.plugins.<name>``.

Each registers through the ``cms`` entry-point group exactly like a third-party plugin.
"""
