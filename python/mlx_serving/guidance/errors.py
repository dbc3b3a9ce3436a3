"""The one failure a grammar source can have before generation starts."""


class GrammarError(ValueError):
    """The schema, pattern or DTD is malformed, or asks for something the
    backend cannot enforce. The message names the problem; it reaches the
    client as GUIDANCE_INVALID."""
