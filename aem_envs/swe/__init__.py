"""aem/SWERepair-v0: repair real repositories with tools, graded with SWE-bench's semantics.

Modules: ``instances`` (loaders), ``repos`` (checkouts from git bundles), ``sandbox`` (bwrap and Docker
runtimes), ``tools`` (actions), ``grading`` (the hardened grader), ``env`` (the env), ``build_mini`` (the
generator of tasks/swe-mini).
"""
