import sys

from ganpaint_core.cli import main

sys.exit(main())
