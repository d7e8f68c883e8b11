"""Policy backends, one module per kind; each registers itself with
``aem_gym.agents.policy.register_policy``."""
