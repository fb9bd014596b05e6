"""The python-backend model template (``glue/training/templates/digits_model.py``) outside Triton.

``triton_python_backend_utils`` exists only inside Triton's stub; a stand-in module lets the
template be imported. ``finalize`` lowers the priority of the whole process, so it runs in a
child interpreter.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib import resources


def test_finalize_lowers_every_thread_of_the_stub_to_the_lowest_priority() -> None:
    template = resources.files("glue.training").joinpath("templates/digits_model.py")
    script = textwrap.dedent(
        f"""
        import os, sys, threading, types
        sys.modules["triton_python_backend_utils"] = types.ModuleType("triton_python_backend_utils")
        namespace = {{}}
        exec(compile(open({str(template)!r}).read(), "digits_model.py", "exec"), namespace)
        ready, done = threading.Event(), threading.Event()
        seen = []
        def other():
            ready.set()
            done.wait()
            seen.append(os.getpriority(os.PRIO_PROCESS, 0))
        thread = threading.Thread(target=other)
        thread.start()
        ready.wait()
        namespace["TritonPythonModel"]().finalize()
        done.set()
        thread.join()
        print(os.getpriority(os.PRIO_PROCESS, 0), seen[0])
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split() == ["19", "19"]
