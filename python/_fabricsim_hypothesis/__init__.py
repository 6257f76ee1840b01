"""fabricsim's Hypothesis entry point, kept outside the ``fabricsim`` package.

Hypothesis runs every ``hypothesis`` entry point while it is imported. Loading one that lives
in ``fabricsim`` would import all of fabricsim (NumPy, NetworkX, the Rust core) into every
program that imports Hypothesis, fabricsim user or not; this module imports nothing.

Types are registered once both are imported, whichever comes first: if fabricsim is already
imported, the hook registers them now; otherwise ``fabricsim/__init__.py`` does when it is
imported (it sees Hypothesis in ``sys.modules``). Either way only
:mod:`fabricsim.testing._hypothesis` is loaded; each type's strategy module is imported the
first time ``st.from_type`` asks for that type. (Hypothesis ships ``_hypothesis_pytestplugin``
the same way, for the same reason.)
"""

from __future__ import annotations

import sys


def _hypothesis_setup_hook() -> None:
    fabricsim = sys.modules.get("fabricsim")
    if fabricsim is None or not getattr(fabricsim, "_IMPORTED", False):
        return  # not imported (or half-way): fabricsim registers its types when it is
    from fabricsim.testing._hypothesis import register_types

    register_types()
