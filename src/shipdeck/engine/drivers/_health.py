"""Polling a deployed service's health URL until it answers HTTP 200."""

from __future__ import annotations

import asyncio

import httpx

from .base import DeployFailed, LogLevel, Reporter

MAX_REQUEST_S = 30.0
"""The longest one health request may take (less when the deadline is nearer)."""
MIN_REQUEST_S = 0.1


async def wait_healthy(
    url: str,
    report: Reporter,
    client: httpx.AsyncClient | None,
    *,
    timeout: float,
    interval: float,
) -> None:
    """Return once `url` answers HTTP 200; poll every `interval` s for up to `timeout` s.

    Args:
        url: the health URL.
        report: where each change of answer is logged.
        client: the HTTP client to use (`None`: a new one for this wait).
        timeout: seconds until the check gives up.
        interval: seconds between two requests.

    Raises:
        DeployFailed: no HTTP 200 within `timeout`, or `url` is not a usable URL.
    """
    if client is None:
        async with httpx.AsyncClient() as own:
            await _poll(url, report, own, timeout, interval)
    else:
        await _poll(url, report, client, timeout, interval)


async def _poll(
    url: str, report: Reporter, client: httpx.AsyncClient, timeout: float, interval: float
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: str | None = None
    while True:
        budget = min(max(deadline - loop.time(), MIN_REQUEST_S), MAX_REQUEST_S)
        healthy, answer = await _probe(client, url, budget)
        if healthy:
            await report.log(f"health check passed: {url} answered {answer}")
            return
        if answer != last:  # one line per change, not one per attempt
            await report.log(
                f"health check: {url} answered {answer}; retrying every {interval:g} s",
                level=LogLevel.WARNING,
            )
            last = answer
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise DeployFailed(
                f"health check did not pass within {timeout:g} s: {url} answered {answer}; "
                "check the service's logs"
            )
        await asyncio.sleep(min(interval, remaining))


async def _probe(client: httpx.AsyncClient, url: str, budget: float) -> tuple[bool, str]:
    """Whether `url` answered 200 now, and its answer in words."""
    try:
        response = await client.get(url, timeout=budget)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise DeployFailed(f"health URL {url!r} is not usable ({exc}); fix `health_url`") from exc
    except httpx.TimeoutException:
        return False, f"nothing within {budget:g} s"
    except httpx.ConnectError:
        return False, "no connection (refused or unreachable)"
    except httpx.HTTPError as exc:
        return False, f"an error ({type(exc).__name__}: {exc})"
    return response.status_code == httpx.codes.OK, f"HTTP {response.status_code}"
