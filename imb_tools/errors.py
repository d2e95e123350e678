"""One exception type for problems the user can fix.

The CLI turns it into a single line on stderr and exit code 2, so bad input
never ends in a traceback.
"""


class ImbError(Exception):
    """A problem with the user's input or environment, said in one line."""


class MissingExtraError(ImbError):
    """An optional dependency is not installed."""

    def __init__(self, module: str, extra: str):
        super().__init__(
            f"this command needs '{module}', which is not installed: "
            f"pip install 'imb-toolkit[{extra}]'"
        )


def require(module: str, extra: str):
    """Import an optional heavy module, or raise a one-line error naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        if exc.name and module.split(".")[0] != exc.name.split(".")[0]:
            raise
        raise MissingExtraError(module, extra) from None
