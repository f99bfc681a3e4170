"""`python -m graphwiz_monitoring.cli`: the same command line as the `graphwiz-monitoring` script."""

from graphwiz_monitoring.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
