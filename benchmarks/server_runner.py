"""`shipdeck serve`, plus a route that exists only for benchmarks.

Run as `python -m benchmarks.server_runner --database URL --port N [--config FILE]`.

The app is built with `shipdeck.server.create_app` and served by uvicorn with the options
`shipdeck.server.serve.run` uses (one worker, uvloop and httptools, no access log), so the
ingest figures measured against it hold for `shipdeck serve` (the SSE benchmark runs
`shipdeck serve` itself). The extra route,
`POST /bench/empty`, answers `201` with a small JSON body and does nothing else: the
baseline the ingest benchmark compares `POST /api/deployments` with (same process, same
middleware, same HTTP stack; no auth, validation, storage or fan-out).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from fastapi.responses import Response

from shipdeck.engine import load_config
from shipdeck.server import create_app

EMPTY_BODY = b'{"ok":true}'


def bench_app(database_url: str, config_file: Path | None = None) -> FastAPI:
    """The shipdeck app on `database_url` with the benchmark-only routes added."""
    app = create_app(database_url=database_url, config=load_config(config_file))

    @app.post("/bench/empty", include_in_schema=False)
    async def empty() -> Response:
        return Response(EMPTY_BODY, status_code=201, media_type="application/json")

    return app


def main() -> None:
    """Serve until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True, metavar="URL")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--config", type=Path, default=None)
    args = parser.parse_args()
    uvicorn.run(
        bench_app(args.database, args.config),
        host="127.0.0.1",
        port=args.port,
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=3,
        h11_max_incomplete_event_size=64 * 1024,
    )


if __name__ == "__main__":
    main()
