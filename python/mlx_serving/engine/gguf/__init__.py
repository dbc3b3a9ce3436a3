"""Loading a model from one GGUF file (llama.cpp's format, as Ollama, LM
Studio and llama.cpp keep them): header first, then weights and tokenizer."""

from .loader import is_gguf_path, load_gguf_model

__all__ = ["is_gguf_path", "load_gguf_model"]
