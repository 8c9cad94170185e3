"""`callcrew dashboard`: the store's call reports in a browser (server-rendered, read only).

`query` (filters), `views` (what a page shows), `charts` (inline SVG), `app` (aiohttp routes,
auth, templates), `cli` (the command).
"""
