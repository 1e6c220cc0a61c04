"""`python -m sweep`: the `sweep` command line."""
import sys

from sweep.cli import main

sys.exit(main())
