import sys

from agegender.cli import main

sys.exit(main())
