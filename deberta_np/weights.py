"""The former name of `deberta_np.checkpoint_files` (finding and reading checkpoint files), kept only for the modules that other branches
are changing now (cli.py, pipelines/) until they import `.checkpoint_files`; delete this file then."""

import sys

from . import checkpoint_files

sys.modules[__name__] = checkpoint_files  # one module under both names
