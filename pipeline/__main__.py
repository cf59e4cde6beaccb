"""`python -m pipeline build` is the same as `booklet build`."""

from pipeline.cli import main

raise SystemExit(main())
