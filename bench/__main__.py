"""`python -m bench`: the load run of scripts/bench (bench/benchmark.py)."""

import sys

from .benchmark import main

sys.exit(main())
