import sys

from simulator.cli import cli_main

sys.exit(cli_main())
