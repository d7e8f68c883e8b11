"""``swe-real``: software-repair tasks from real projects' history (docs/swe-real.md).

A task is "the bug as it exists in release X of a PyPI project; the fix and its regression test from the
project's later public history". Only task data lives in the repository (``tasks/swe-real/``: patches,
test ids, issue texts with attribution, licences, pins); the code comes from the projects' sdists.

Modules: ``sources`` (the pins; set-up: download + verify each sdist, make it a one-commit git repo, build
the per-project test environment), ``build`` (the generator of ``tasks/swe-real/v0``: applies every patch
to its release, derives and validates FAIL_TO_PASS / PASS_TO_PASS), ``validate`` (the one-command check:
gold resolves and the empty patch does not, through the grader, on every runtime), ``importer`` (turns
an upstream commit into a task folder under ``tasks/swe-real/src``).
"""
