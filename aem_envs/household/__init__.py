"""The household family: ALFWorld's six task types on a native engine (``aem/Household-v0``) and on the
real ALFWorld/TextWorld engine (``aem/ALFWorld-v0``, with the ``household`` extra). Heavy modules are
imported lazily; see ``env.py``, ``world.py``, ``oracle.py``, ``generate.py``, ``pddl.py``,
``alfworld_env.py``."""

from aem_envs.household.constants import TASK_TYPES

__all__ = ["TASK_TYPES"]
