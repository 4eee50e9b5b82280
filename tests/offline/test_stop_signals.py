"""Signals before the run starts raise; once deferred they are requests, and a second one hurries the stop."""

import os
import signal

import pytest

from lifecycle_guard_offline.stop_signals import Interrupted, StopSignals, exit_status


def test_a_signal_before_the_run_raises_and_the_exit_status_is_the_shells():
    with StopSignals(), pytest.raises(Interrupted) as interrupted:
        os.kill(os.getpid(), signal.SIGTERM)
    assert interrupted.value.received is signal.SIGTERM
    assert exit_status(signal.SIGTERM) == 143
    assert exit_status(signal.SIGINT) == 130


def test_once_deferred_a_signal_is_a_request_and_a_second_one_hurries():
    previous = signal.getsignal(signal.SIGINT)
    with StopSignals() as stop:
        stop.defer()
        os.kill(os.getpid(), signal.SIGINT)
        assert (stop.requested, stop.hurried, stop.received) == (True, False, signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.hurried
        assert stop.received is signal.SIGINT  # the exit status is the first signal's
        # the next SIGTERM would end the process at once
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert signal.getsignal(signal.SIGINT) is previous  # handlers are given back
