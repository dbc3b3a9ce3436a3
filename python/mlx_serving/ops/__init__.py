"""Production features around the engine: metrics, QoS with SLOs, canary routing,
feature flags, and reloading their configuration while the runtime serves."""
