"""The OpenAI- and Anthropic-compatible HTTP front: an ASGI app (Starlette on
uvicorn) that adapts HTTP requests to the generation service, as the JSON-RPC
handlers do for stdio. Its event loop runs on its own thread; the engine
thread stays the one that owns MLX."""
