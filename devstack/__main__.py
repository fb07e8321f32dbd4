"""`python -m devstack`, which `make run` calls."""

from devstack.stack import run

if __name__ == "__main__":
    raise SystemExit(run())
