"""Policy backends, one module per kind; each registers itself with ``agents.policy.register_policy``."""
