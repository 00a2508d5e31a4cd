"""Start the whole hub in the foreground: web server, django-q2 cluster and, when no A1111
answers, the built-in simulator. Ctrl-C stops them all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from a1111.client import A1111Client, A1111Error
from backends.models import Backend
from backends.registry import DEFAULT_A1111_URL, sync_configured_backends
from core.models import ApiKey
from generation_app.services import ensure_schedules
from loras_app.scan.runs import startup_scan

BANNER = "=" * 78
# Measured with wrk on 2 cores (GET /jobs/{id}): three processes beat two processes with
# more threads, because the threads of one process share its GIL. Threads stay, for the
# SSE streams that hold a thread each.
WEB_WORKERS = 3
WEB_THREADS = 4


def a1111_answers(url: str) -> bool:
    """Anything that answers on the API (even 401 for --api-auth) counts as an A1111."""
    client = A1111Client(url, auth="", connect_timeout=2, read_timeout=2)
    try:
        client.ping()
    except A1111Error as exc:
        return exc.status == 401
    finally:
        client.close()
    return True


class Command(BaseCommand):
    help = "Run the hub: web server (gunicorn) and queue workers (qcluster) together."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument(
            "--a1111-url",
            default=",".join(settings.A1111_URLS),
            help="A1111 base URL(s), comma-separated. Default: A1111_URL, else "
            f"{DEFAULT_A1111_URL}, else the built-in simulator.",
        )
        parser.add_argument("--reload", action="store_true", help="Restart on code changes.")
        parser.add_argument(
            "--web-workers", type=int, default=int(os.environ.get("WEB_WORKERS", WEB_WORKERS))
        )
        parser.add_argument("--no-simulator", action="store_true", help="Never start a1111sim.")
        parser.add_argument(
            "--sim-step-ms", type=int, default=int(os.environ.get("SIM_STEP_MS", "50"))
        )

    def handle(self, *args, **opts):
        call_command("migrate", interactive=False, verbosity=0)
        env = os.environ.copy()
        children: list[subprocess.Popen] = []
        try:
            urls = self._backend_urls(opts, env, children)
            env["A1111_URL"] = ",".join(urls)
            self._first_key()
            ensure_schedules()
            startup_scan()  # the catalog fills itself: from LORA_DIR, else from the backends
            children.append(self._start_web(opts, env))
            children.append(
                subprocess.Popen(
                    [sys.executable, "manage.py", "qcluster"], env=env, cwd=settings.BASE_DIR
                )
            )
            self.stdout.write(
                f"Hub listening on http://{opts['host']}:{opts['port']}  (docs: /docs)"
            )
            self._wait(children)
        finally:
            self._stop(children)

    # --- parts ----------------------------------------------------------------------
    def _backend_urls(self, opts, env, children) -> list[str]:
        """The backends for this run, made the enabled rows (see sync_configured_backends)."""
        named = [u.strip().rstrip("/") for u in opts["a1111_url"].split(",") if u.strip()]
        if named:
            for url in named:
                if not a1111_answers(url):
                    self.stderr.write(
                        f"Warning: A1111 at {url} does not answer yet; jobs will wait or fail."
                    )
        elif a1111_answers(DEFAULT_A1111_URL) or opts["no_simulator"]:
            named = [DEFAULT_A1111_URL]
        else:
            url = self._start_simulator(opts, children)
            env["HUB_SIMULATOR_STARTED"] = "1"
            Backend.objects.update_or_create(
                url=url,
                defaults={"name": "a1111sim (built-in simulator)", "is_simulator": True},
            )
            named = [url]
        sync_configured_backends(named)
        return named

    def _start_simulator(self, opts, children) -> str:
        lora_dir = Path(settings.HUB_DATA_DIR) / "sim-loras"
        lora_dir.mkdir(parents=True, exist_ok=True)
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "a1111sim",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--lora-dir",
                str(lora_dir),
                "--seed-loras",
                "--step-ms",
                str(opts["sim_step_ms"]),
            ],
            stdout=subprocess.PIPE,
            text=True,
            cwd=settings.BASE_DIR,
        )
        children.append(process)
        line = process.stdout.readline().strip()
        if "listening on" not in line:
            raise CommandError(f"a1111sim did not start: {line!r}")
        url = line.rsplit(" ", 1)[-1]
        self.stdout.write(
            f"{BANNER}\nNo A1111 answers at {DEFAULT_A1111_URL} and none was named, so the hub "
            f"started a1111sim,\nthe built-in SIMULATOR, at {url}. Its images are test patterns, "
            f"not Stable Diffusion.\nSet A1111_URL (or --a1111-url) to use a real A1111.\n{BANNER}"
        )
        return url

    def _first_key(self) -> None:
        if ApiKey.objects.exists():
            return
        key, raw = ApiKey.generate("first key (created by runhub)")
        self.stdout.write(
            f"{BANNER}\nNo API keys existed, so one service key was created. It is shown once:\n\n"
            f"    {raw}\n\nUse it as `Authorization: Bearer <key>`. More keys: "
            f"`python manage.py create_api_key NAME [--user USER_ID]`.\n{BANNER}"
        )

    def _start_web(self, opts, env) -> subprocess.Popen:
        command = [
            sys.executable, "-m", "gunicorn", "a1111hub.wsgi:application",
            "--bind", f"{opts['host']}:{opts['port']}",
            "--workers", str(opts["web_workers"]),
            "--worker-class", "gthread", "--threads", str(WEB_THREADS),
            "--timeout", "120", "--graceful-timeout", "10",
            "--access-logfile", "-",
        ]  # fmt: skip
        if opts["reload"]:
            command.append("--reload")
        return subprocess.Popen(command, env=env, cwd=settings.BASE_DIR)

    def _wait(self, children: list[subprocess.Popen]) -> None:
        stop = {"signal": None}

        def on_signal(signum, frame):
            stop["signal"] = signum

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        while stop["signal"] is None:
            for child in children:
                if child.poll() is not None:
                    raise CommandError(
                        f"{' '.join(child.args[1:3])} exited with {child.returncode}."
                    )
            time.sleep(0.3)
        self.stdout.write("Stopping…")

    def _stop(self, children: list[subprocess.Popen]) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
