import sys

from ganpaint_core.cli.main import main

sys.exit(main())
