"""Task data, installed as the package ``aem_envs.taskdata`` (see ``aem_envs.tasks.tasks_root``).

One folder per env family and version, ``<env>/<version>/manifest.json`` plus its data files; nothing here
is code. It is a package only so that a wheel carries the data next to the env library that reads it.
"""
