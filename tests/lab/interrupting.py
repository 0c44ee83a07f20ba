"""A comparison interrupted on purpose, for the tests of going on with it."""


class Interrupt:
    """A progress callback that stops the comparison after ``after`` results (as Ctrl-C)."""

    def __init__(self, after: int) -> None:
        self.after = after

    def __call__(self, label: str, done: int, total: int) -> None:
        if done == self.after:
            raise KeyboardInterrupt
