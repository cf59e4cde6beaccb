"""`python -m pipeline build` is the same as `booklet build`."""

from pipeline.cli import entry

if __name__ == "__main__":  # (a worker process imports this module again, to run nothing)
    raise SystemExit(entry())
