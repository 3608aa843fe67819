"""Kept for plugins written against cms 0.1: the views live in :mod:`cms.web.views`."""
