"""The upstream app: one nginx process serving a fixed 1 KiB body on every path."""

from __future__ import annotations

from pathlib import Path

from bench.procs import PROXY_CORE, Proc, ProcessGroup, wait_port

BODY_BYTES = 1024


def nginx_config(directory: Path, port: int) -> str:
    """An nginx.conf: no daemon, no master, no access log, every path kept in ``directory``."""
    temp = directory / "nginx-temp"
    temps = "\n".join(
        f"    {kind}_temp_path {temp / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""daemon off;
master_process off;
worker_processes 1;
pid {directory / "nginx.pid"};
error_log {directory / "nginx-error.log"} warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
{temps}
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            default_type application/octet-stream;
            return 200 "{"x" * BODY_BYTES}";
        }}
    }}
}}
"""


def start_nginx(group: ProcessGroup, binary: str, directory: Path, port: int) -> Proc:
    """Write the config, start nginx on core 0 and wait for its port."""
    (directory / "nginx-temp").mkdir(exist_ok=True)
    conf = directory / "nginx.conf"
    conf.write_text(nginx_config(directory, port))
    argv = [binary, "-p", str(directory), "-e", str(directory / "nginx-error.log"), "-c", str(conf)]
    proc = group.start("nginx", argv, core=PROXY_CORE)
    wait_port(proc, port)
    return proc
