"""Load c20e05e's shared fixtures (tests/conftest.py) for the proof tests in this folder
(its __all__ limits `import *`, so every public and fixture name is copied explicitly).
"""

import tests.conftest as _shared

globals().update({k: v for k, v in vars(_shared).items() if not k.startswith("__")})
