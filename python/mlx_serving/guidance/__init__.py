"""Structured output: JSON Schema, regex, DTD and XSD constraints as per-token masks.

    compiler    the request's `guidance` -> a cached, compiled grammar (reader thread)
    processor   one stream's matcher as an mlx-lm logits processor (engine thread)
    mask        its bitmask applied to the logits, recent masks kept on the device
    backend     what a backend provides; llguidance_backend (default), outlines_backend
    dtd, xsd    DTD or XSD -> a grammar of rules (xml_text: what both write as XML text)
    rules       that grammar -> Lark (llguidance) or one regex (outlines-core)
    regex       ASCII meaning of \\d \\w \\s;  json_schema: schema checks, exact formats
    cache       a bounded LRU map
"""
