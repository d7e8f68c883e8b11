"""MiniWoB++ web tasks in headless Chromium behind the text-env contract: ``aem/MiniWoB-<task>-v0``.

The page is shown as text (a DOM rendering with element refs) and actions are text (``click[ref]``,
``type[ref][text]``). Nothing heavy is imported here; see ``env.py``.
"""
