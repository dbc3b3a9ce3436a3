"""Structured output: JSON Schema, regex and DTD constraints as per-token masks.

    compiler    the request's `guidance` -> a cached, compiled grammar (reader thread)
    processor   one stream's matcher as an mlx-lm logits processor (engine thread)
    mask        its bitmask applied to the logits, recent masks kept on the device
    backend     what a backend provides; llguidance_backend (default), outlines_backend
    dtd, rules  DTD -> a grammar of rules -> Lark (llguidance) or one regex (outlines-core)
    regex       ASCII meaning of \\d \\w \\s;  cache: a bounded LRU map
"""
