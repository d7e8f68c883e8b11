"""ScienceWorld (allenai/ScienceWorld) behind the text-env contract: ``aem/ScienceWorld-<task>-v0``.

Nothing heavy is imported here; the simulator loads when an env is made. See ``env.py``.
"""
