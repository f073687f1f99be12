"""`python -m writer`."""

from writer.cli import main

raise SystemExit(main())
