"""``python -m mediamon``. The guard matters: worker processes import the main module."""

from mediamon.cli import main

if __name__ == "__main__":
    main()
