"""Load c20e05e's root test fixtures (tests/conftest.py) for the proof tests in this folder
(tests/conftest.py sets ``__all__``, so a star import would miss its fixtures).
"""

import tests.conftest as _root

globals().update({name: getattr(_root, name) for name in dir(_root) if not name.startswith("__")})
