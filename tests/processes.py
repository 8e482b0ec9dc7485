"""For tests that stop a child with Ctrl-C (SIGINT)."""

import signal


def sigint_as_in_a_terminal() -> None:
    """A Popen preexec_fn: SIGINT at its default in the child, as a terminal's foreground job has
    it. A suite started in the background (`cmd &` in a script, as CI may be) ignores SIGINT, and
    its children would inherit that and never see the test's Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
