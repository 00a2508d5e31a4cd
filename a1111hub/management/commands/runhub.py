"""Start the whole hub in the foreground: web server, the generation and housekeeping
django-q2 clusters and, when no A1111 answers, the built-in simulator. A child that dies is
restarted; Ctrl-C stops them all."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from a1111.client import A1111Client, A1111Error
from a1111hub.supervisor import Child, GaveUp, Supervisor
from a1111hub.webworker import MAX_REQUEST_LINE
from backends.models import Backend
from backends.registry import DEFAULT_A1111_URL, sync_configured_backends
from core.models import ApiKey
from generation_app.scheduling.dispatcher import enqueue_dispatch
from generation_app.scheduling.housekeeping import ensure_schedules
from loras_app.scan.runs import startup_scan

BANNER = "=" * 78
# Measured with wrk on 2 cores (GET /jobs/{id}): three processes beat two processes with
# more threads, because the threads of one process share its GIL. Threads stay, for the
# SSE streams that hold a thread each.
WEB_WORKERS = 3
WEB_THREADS = 4


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def a1111_answers(url: str) -> bool:
    """Anything that answers on the API (even 401 for --api-auth) counts as an A1111."""
    client = A1111Client(url, auth="", connect_timeout=2, read_timeout=2, connect_retries=0)
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
        supervisor = Supervisor([], log=self.stderr.write)
        try:
            urls = self._backend_urls(opts, env, supervisor)
            env["A1111_URL"] = ",".join(urls)
            self._first_key()
            ensure_schedules()
            startup_scan()  # the catalog fills itself: from LORA_DIR, else from the backends
            enqueue_dispatch(force=True)  # jobs left queued by an earlier run (a crash) run now
            manage = [sys.executable, "manage.py"]
            housekeeping = {**env, "Q_CLUSTER_NAME": settings.HUB_HOUSEKEEPING_QUEUE}
            supervisor.children += [
                Child("web server (gunicorn)", self._web_command(opts), env, str(settings.BASE_DIR)),
                Child("generation queue (qcluster)", [*manage, "qcluster"], env, str(settings.BASE_DIR)),
                Child("housekeeping queue (qcluster)", [*manage, "qcluster"], housekeeping,
                      str(settings.BASE_DIR)),
            ]  # fmt: skip
            for child in supervisor.children:
                if not child.alive:
                    child.start()
            self.stdout.write(
                f"Hub listening on http://{opts['host']}:{opts['port']}  (docs: /docs)"
            )
            self._wait(supervisor)
        except GaveUp as exc:
            raise CommandError(f"{exc} Stopping the hub.") from None
        finally:
            supervisor.stop()

    # --- parts ----------------------------------------------------------------------
    def _backend_urls(self, opts, env, supervisor: Supervisor) -> list[str]:
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
            url = self._start_simulator(opts, supervisor)
            env["HUB_SIMULATOR_STARTED"] = "1"
            Backend.objects.update_or_create(
                url=url,
                defaults={"name": "a1111sim (built-in simulator)", "is_simulator": True},
            )
            named = [url]
        sync_configured_backends(named)
        return named

    def _start_simulator(self, opts, supervisor: Supervisor) -> str:
        lora_dir = Path(settings.HUB_DATA_DIR) / "sim-loras"
        lora_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [
            sys.executable, "-m", "a1111sim", "--host", "127.0.0.1", "--port", str(port),
            "--lora-dir", str(lora_dir), "--seed-loras", "--step-ms", str(opts["sim_step_ms"]),
        ]  # fmt: skip
        child = Child("a1111sim (simulator)", command, os.environ.copy(), str(settings.BASE_DIR))
        supervisor.children.append(child)
        child.start()
        deadline = time.monotonic() + 30
        while not a1111_answers(url):
            if not child.alive or time.monotonic() > deadline:
                raise CommandError("a1111sim did not start; run `python -m a1111sim` to see why.")
            time.sleep(0.1)
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
            f"`.venv/bin/python manage.py create_api_key NAME [--user USER_ID]`.\n{BANNER}"
        )

    def _web_command(self, opts) -> list[str]:
        command = [
            sys.executable, "-m", "gunicorn", "a1111hub.wsgi:application",
            "--bind", f"{opts['host']}:{opts['port']}",
            "--workers", str(opts["web_workers"]),
            # gthread, whose own refusals (414, 431, 400) answer the hub's JSON error shape.
            "--worker-class", "a1111hub.webworker.JsonErrorWorker", "--threads", str(WEB_THREADS),
            "--timeout", "120", "--graceful-timeout", "3",
            # The largest request line gunicorn takes (its default is 4094): a query of a
            # few filters of non-Latin text, percent-encoded, fits. Longer: a JSON 414.
            "--limit-request-line", str(MAX_REQUEST_LINE),
            # Idle keep-alive connections stay open 30 s (gunicorn's default is 2 s): a client
            # polling every 2 s on one session would otherwise race the server's close.
            "--keep-alive", "30",
            "--access-logfile", "-",
        ]  # fmt: skip
        if opts["reload"]:
            command.append("--reload")
        return command

    def _wait(self, supervisor: Supervisor) -> None:
        stop = {"signal": None}

        def on_signal(signum, frame):
            stop["signal"] = signum

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        while stop["signal"] is None:
            supervisor.check()
            time.sleep(0.3)
        self.stdout.write("Stopping…")
