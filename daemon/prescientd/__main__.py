"""python -m prescientd -> the CLI."""

import sys

from prescientd.cli import main

sys.exit(main())
