"""The core: settings, the secret key, themes, hook specifications, the plugin host and the
site they make. Imports nothing of cms above it but the contracts."""
