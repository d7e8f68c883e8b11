"""TextWorld (microsoft/TextWorld) and TextWorldExpress behind the text-env contract.

``aem/TextWorld-<kind>-v0`` (tw.py, games generated locally and cached) and ``aem/TWX-<game>-v0`` (twx.py).
Nothing heavy is imported here.
"""
