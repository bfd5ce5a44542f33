"""Threads that give way: work that must not slow the questions down.

A question's embedding runs on the model's OpenMP threads at normal priority. Work beside
it runs in threads of lower priority, set when each thread starts, so the threads the
model starts from them (their OpenMP team) inherit it: a search's lexical side
(:func:`idle`) and an index run's embedding (:func:`lowered`).
"""

from __future__ import annotations

import os
import threading

#: How much an index run's embedding thread is lowered (nice levels).
INDEXING_NICE = 10


def idle() -> None:
    """Run this thread only on a core nothing else wants (Linux's ``SCHED_IDLE``), or
    elsewhere at a lower priority. For work a search can do itself when it waits too long."""
    try:
        os.sched_setscheduler(threading.get_native_id(), os.SCHED_IDLE, os.sched_param(0))
        return
    except (AttributeError, OSError):  # not on Linux, or the policy is refused
        pass
    lowered()


def lowered(step: int = INDEXING_NICE) -> None:
    """Lower this thread's priority by ``step`` nice levels: it still gets its share of a
    busy machine (``SCHED_IDLE`` could starve it), but gives way to normal threads. Linux
    sets a priority per thread; elsewhere nothing is changed (it would lower the process)."""
    thread = threading.get_native_id()
    try:
        if os.uname().sysname == "Linux":
            os.setpriority(os.PRIO_PROCESS, thread, os.getpriority(os.PRIO_PROCESS, thread) + step)
    except (AttributeError, OSError):  # not allowed, or no such call here
        pass
