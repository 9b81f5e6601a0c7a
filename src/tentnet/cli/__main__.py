"""``python -m tentnet.cli``."""

from . import main

raise SystemExit(main())
