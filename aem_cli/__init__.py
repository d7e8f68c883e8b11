"""The ``aem`` command line: it only composes aem_envs, agents, baselines and leaderboard."""
