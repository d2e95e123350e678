"""A build worker process: validates blocks of a raw file that the main process hands it.

Started as `python -m imb_tools.data.worker`, not through multiprocessing, so a user's
script that calls `imb_qa.build()` without an `if __name__ == "__main__"` guard still works.
The pipes carry only file names: the block and the result travel through files in the
run's work folder, so neither side ever blocks on a full pipe. A worker exits when its
stdin closes (the main process finished, failed or was killed).
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import traceback
from collections import deque
from pathlib import Path


def serve() -> None:
    from imb_tools.data.prepare import block_result
    from imb_tools.infra.errors import ImbError

    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        task_path = line.decode().strip()
        if not task_path:
            continue
        try:
            with open(task_path, "rb") as f:
                args, result_path = pickle.load(f)
            os.unlink(task_path)
            result = block_result(*args)
            with open(result_path, "wb") as f:
                pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)
            out.write(b"ok\n")
        except ImbError as exc:
            out.write(b"error " + json.dumps(str(exc)).encode() + b"\n")
        except BaseException:  # a bug: bring the traceback back to the main process
            out.write(b"crash " + json.dumps(traceback.format_exc()[-3000:]).encode() + b"\n")
        out.flush()


class Pool:
    """n worker processes; run(tasks) yields results in task order, at most 2 tasks per worker ahead."""

    def __init__(self, n: int, work_dir: Path):
        import imb_tools

        self.work_dir = Path(work_dir)
        root = str(Path(imb_tools.__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
        self.procs = [subprocess.Popen([sys.executable, "-m", "imb_tools.data.worker"], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, env=env) for _ in range(n)]

    def run(self, tasks):
        from imb_tools.infra.errors import ImbError

        pending: deque = deque()
        n = len(self.procs)

        def receive():
            w, result_path = pending.popleft()
            reply = self.procs[w].stdout.readline().decode()
            if reply.startswith("ok"):
                with open(result_path, "rb") as f:
                    result = pickle.load(f)
                os.unlink(result_path)
                return result
            if reply.startswith("error "):
                raise ImbError(json.loads(reply[6:]))
            if reply.startswith("crash "):
                raise RuntimeError("build worker failed:\n" + json.loads(reply[6:]))
            raise RuntimeError(f"build worker {self.procs[w].pid} exited (code {self.procs[w].poll()})")

        for index, args in enumerate(tasks):
            w = index % n
            task_path = self.work_dir / f"task-{index:06d}.pickle"
            result_path = self.work_dir / f"result-{index:06d}.pickle"
            with open(task_path, "wb") as f:
                pickle.dump((args, str(result_path)), f, protocol=pickle.HIGHEST_PROTOCOL)
            self.procs[w].stdin.write(f"{task_path}\n".encode())
            self.procs[w].stdin.flush()
            pending.append((w, result_path))
            if len(pending) >= 2 * n:
                yield receive()
        while pending:
            yield receive()

    def close(self) -> None:
        for p in self.procs:
            try:
                p.stdin.close()
            except OSError:
                pass
        import threading

        def reap(procs):
            for p in procs:
                p.wait()  # each exits once its stdin is closed
                p.stdout.close()

        # Interpreter teardown in the workers takes a moment: reap them while pass 2 runs.
        threading.Thread(target=reap, args=(self.procs,), daemon=True).start()


if __name__ == "__main__":
    serve()
