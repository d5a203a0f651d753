"""``python -m evo``: the same as the ``evo`` console script."""

from evo.cli import main

if __name__ == "__main__":
    main()
