"""Tests of the upstream-backed env families (ScienceWorld, TextWorld, TextWorldExpress, MiniWoB++)."""
