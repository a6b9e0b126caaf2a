"""`make run`: migrate, seed the demo, then run the whole product locally:
the upstream simulator, a Celery worker with embedded beat, and the web
server (Daphne, ASGI). Ctrl-C stops everything."""

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PORT = int(os.environ.get("PORT", "8000"))
SIM_PORT = int(os.environ.get("SIM_PORT", "8100"))


def manage(*args: str, capture: bool = False) -> str:
    result = subprocess.run(
        [PY, "manage.py", *args],
        cwd=ROOT,
        check=True,
        text=True,
        stdout=subprocess.PIPE if capture else None,
    )
    return (result.stdout or "").strip()


def wait_http(url: str, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (local URL)
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.2)
    return False


def main() -> int:
    env = os.environ.copy()
    env.setdefault("UPSTREAM_SIMULATOR_URL", f"http://127.0.0.1:{SIM_PORT}")
    env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{PORT}")
    os.environ.update(env)
    manage("migrate", "--noinput", "-v0")
    demo_key = manage("seed_demo", "--print-key", capture=True)
    manage("collectstatic", "--noinput", "-v0")

    processes: list[subprocess.Popen] = []
    if (ROOT / "simulator").is_dir():
        processes.append(
            subprocess.Popen([PY, "-m", "simulator", "--host", "127.0.0.1", "--port", str(SIM_PORT)], cwd=ROOT, env=env)
        )
    processes.append(
        subprocess.Popen(
            [
                PY,
                "-m",
                "celery",
                "-A",
                "hypereal_site",
                "worker",
                "--beat",
                "--loglevel",
                "INFO",
                "--concurrency",
                "2",
                "--pool",
                "threads",
            ],
            cwd=ROOT,
            env=env,
        )
    )
    processes.append(
        subprocess.Popen(
            [PY, "-m", "daphne", "-b", "127.0.0.1", "-p", str(PORT), "hypereal_site.asgi:application"],
            cwd=ROOT,
            env=env,
        )
    )
    if wait_http(f"http://127.0.0.1:{PORT}/healthz"):
        print(
            "\n" + "=" * 72 + f"\n  Hypereal is running\n"
            f"  Dashboard:   http://127.0.0.1:{PORT}/dashboard/\n"
            f"  Admin:       http://127.0.0.1:{PORT}/admin/   (admin@example.com / hypereal-demo)\n"
            f"  Demo login:  demo@example.com / hypereal-demo  (1,000 credits)\n"
            f"  Demo key:    {demo_key}\n"
            f"  API base:    http://127.0.0.1:{PORT}/api/v1\n"
            f"  Simulator:   http://127.0.0.1:{SIM_PORT}\n" + "=" * 72 + "\n",
            flush=True,
        )

    def stop(*_):
        for p in processes:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in processes:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()

    signal.signal(signal.SIGTERM, lambda *a: (stop(), sys.exit(0)))
    try:
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        print("a process exited; stopping the others", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop()


if __name__ == "__main__":
    sys.exit(main())
