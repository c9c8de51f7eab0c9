"""The former name of `deberta_np.shim`, kept only for the modules that other branches are changing now
(cli.py, pipelines/base.py) until they import `from . import shim`; delete this file then."""

import sys

from . import shim

sys.modules[__name__] = shim  # one module under both names: `from . import xp` gives deberta_np.shim itself
