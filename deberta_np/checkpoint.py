"""The former name of `deberta_np.parameters` (names, strictness and the parameter tree), kept only for the modules that other branches
are changing now (cli.py, pipelines/) until they import `.parameters`; delete this file then."""

import sys

from . import parameters

sys.modules[__name__] = parameters  # one module under both names
