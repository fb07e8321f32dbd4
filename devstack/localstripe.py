"""`python -m devstack.localstripe --port N`: localstripe, kept in memory only.

localstripe pickles its whole store to the fixed path /tmp/localstripe.pickle after every
write. That makes each Stripe call slower the more objects it holds (quadratic over a
bench or a 10,000-order run, where real Stripe stays flat), and every localstripe on the
machine overwrites the same file. Our stacks always start it empty (`--from-scratch`)
and never read the file back, so the dump is switched off here; the rest is localstripe
unchanged.
"""

from __future__ import annotations

from localstripe import resources


def _keep_in_memory(self: resources.Store) -> None:
    """The store lives as long as the process, as with `--from-scratch` it always did."""


def in_memory() -> None:
    """Switch off localstripe's dump to disk, in this process."""
    resources.Store.dump_to_disk = _keep_in_memory


def main() -> None:
    from localstripe import server  # its routes are built at import: only in the server

    in_memory()
    server.start()  # its own arguments: --port, --from-scratch


if __name__ == "__main__":
    main()
