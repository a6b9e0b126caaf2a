"""``python -m simulator [--host H] [--port P]`` (env: SIM_HOST, SIM_PORT, SIM_API_KEY)."""

from __future__ import annotations

import argparse
import logging
import os


class _DropAbortNoise(logging.Filter):
    """reset_after deliberately returns without finishing the body; uvicorn
    logs that as an error.  It is expected here, so drop the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "without completing response" not in str(record.msg)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("SIM_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("SIM_PORT", "8100")))
    parser.add_argument("--log-level", default=os.environ.get("SIM_LOG_LEVEL", "warning"))
    args = parser.parse_args(argv)

    import uvicorn

    from .app import Settings, app

    Settings.reload()
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level=args.log_level,
        backlog=4096,
        timeout_keep_alive=75,
        server_header=False,
    )
    server = uvicorn.Server(config)
    # uvicorn's own log config replaces handlers/filters; re-add after setup.
    logging.getLogger("uvicorn.error").addFilter(_DropAbortNoise())
    server.run()


if __name__ == "__main__":
    main()
