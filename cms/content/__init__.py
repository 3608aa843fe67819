"""The content layer: fields, posts, rendering, users, passwords, tokens, media and the
export format. Free of the web framework: nothing here imports aiohttp."""
