"""`python -m graphwiz_monitoring.cli`: the same command line as the `graphwiz-monitoring` script."""

from . import main

if __name__ == "__main__":  # pragma: no cover
    main()
