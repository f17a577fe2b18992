import sys

from inrdeblur.cli import main

sys.exit(main())
