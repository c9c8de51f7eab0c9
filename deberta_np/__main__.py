"""`python -m deberta_np`: the `deberta-np` command line (see deberta_np/cli.py)."""

import sys

from deberta_np.cli import main

sys.exit(main())
