"""The use cases every front calls (stdio JSON-RPC, HTTP, the Python client's
runtime): transport-neutral, typed requests in, typed events out."""
