"""`python -m smarthall` is the `hall` command."""

import sys

from smarthall.cli import main

sys.exit(main())
