import sys

from her2audit.cli import main

sys.exit(main())
