"""send_with_retry against a tiny loopback HTTP server that fails on cue. Sleep is injected: nothing waits."""

from __future__ import annotations

import email.utils
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from image_release.adapters.http_retry import (
    NO_RETRY,
    RetryPolicy,
    parse_retry_after,
    send_with_retry,
)
from image_release.errors import ConfigError


class Script:
    """Answers to give, in order; the last one repeats. Each answer: (status, headers) or "drop"/"hang"."""

    def __init__(self):
        self.answers: list = [(200, {})]
        self.hits = 0
        self.lock = threading.Lock()

    def next(self):
        with self.lock:
            self.hits += 1
            if len(self.answers) > 1:
                return self.answers.pop(0)
            return self.answers[0]


@pytest.fixture
def server():
    script = Script()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            answer = script.next()
            if answer == "drop":
                self.connection.shutdown(socket.SHUT_RDWR)  # connection reset before any answer
                self.close_connection = True
                return
            if answer == "hang":
                time.sleep(0.5)  # longer than the client's read timeout in the test
                answer = (200, {})
            status, headers = answer
            body = f"status {status}".encode()
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.do_GET()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    script.url = f"http://127.0.0.1:{httpd.server_address[1]}/x"
    yield script
    httpd.shutdown()
    httpd.server_close()


class Recorder:
    def __init__(self):
        self.sleeps: list[float] = []
        self.lines: list[str] = []

    def sleep(self, seconds):
        self.sleeps.append(seconds)

    def log(self, line):
        self.lines.append(line)


def call(server, policy, rec, timeout=5.0):
    session = requests.Session()
    return send_with_retry(
        lambda: session.get(server.url, timeout=timeout), policy, log=rec.log, what="GET /x", sleep=rec.sleep
    )


POLICY = RetryPolicy(attempts=5, base_delay=0.5, max_delay=30.0, jitter=False)


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 429])
def test_transient_status_retried_until_success(server, status):
    server.answers = [(status, {}), (status, {}), (200, {})]
    rec = Recorder()
    resp = call(server, POLICY, rec)
    assert resp.status_code == 200
    assert server.hits == 3
    assert rec.sleeps == [0.5, 1.0]
    assert len(rec.lines) == 2
    assert rec.lines[0].startswith("retry GET /x: HTTP") and "attempt 2/5" in rec.lines[0] and "0.50s" in rec.lines[0]
    assert "attempt 3/5" in rec.lines[1]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 422])
def test_other_4xx_never_retried(server, status):
    server.answers = [(status, {}), (200, {})]
    rec = Recorder()
    resp = call(server, POLICY, rec)
    assert resp.status_code == status
    assert server.hits == 1
    assert rec.sleeps == [] and rec.lines == []


def test_attempts_bounded_and_last_answer_returned(server):
    server.answers = [(503, {})]
    rec = Recorder()
    resp = call(server, RetryPolicy(attempts=3, base_delay=1, jitter=False), rec)
    assert resp.status_code == 503
    assert server.hits == 3
    assert rec.sleeps == [1, 2]


def test_backoff_capped_by_max_delay(server):
    server.answers = [(500, {})]
    rec = Recorder()
    call(server, RetryPolicy(attempts=7, base_delay=1, max_delay=5, jitter=False), rec)
    assert rec.sleeps == [1, 2, 4, 5, 5, 5]


def test_retry_after_seconds_honoured(server):
    server.answers = [(429, {"Retry-After": "7"}), (200, {})]
    rec = Recorder()
    assert call(server, POLICY, rec).status_code == 200
    assert rec.sleeps == [7.0]
    assert "Retry-After 7" in rec.lines[0]


def test_retry_after_capped_by_max_delay(server):
    server.answers = [(429, {"Retry-After": "3600"}), (200, {})]
    rec = Recorder()
    call(server, RetryPolicy(attempts=3, max_delay=12, jitter=False), rec)
    assert rec.sleeps == [12]


def test_retry_after_http_date(server):
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    server.answers = [(503, {"Retry-After": when}), (200, {})]
    rec = Recorder()
    call(server, POLICY, rec)
    assert 15 <= rec.sleeps[0] <= 20


def test_jitter_stays_within_half_to_full_delay(server):
    server.answers = [(500, {})]
    rec = Recorder()
    call(server, RetryPolicy(attempts=6, base_delay=1, max_delay=100, jitter=True), rec)
    for n, slept in enumerate(rec.sleeps, start=1):
        full = 2 ** (n - 1)
        assert full / 2 <= slept <= full


def test_connection_refused_retried_then_raised():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens here now
    rec = Recorder()
    calls = []

    def fn():
        calls.append(1)
        return requests.get(f"http://127.0.0.1:{port}/", timeout=2)

    with pytest.raises(requests.ConnectionError):
        send_with_retry(fn, RetryPolicy(attempts=3, jitter=False), log=rec.log, what="GET /", sleep=rec.sleep)
    assert len(calls) == 3
    assert len(rec.sleeps) == 2
    assert "ConnectionError" in rec.lines[0]


def test_connection_reset_then_success(server):
    server.answers = ["drop", (200, {})]
    rec = Recorder()
    assert call(server, POLICY, rec).status_code == 200
    assert server.hits == 2 and len(rec.sleeps) == 1


def test_read_timeout_retried(server):
    server.answers = ["hang", (200, {})]
    rec = Recorder()
    assert call(server, POLICY, rec, timeout=0.1).status_code == 200
    assert server.hits == 2
    assert "Timeout" in rec.lines[0]


def test_no_retry_policy(server):
    server.answers = [(503, {}), (200, {})]
    rec = Recorder()
    assert call(server, NO_RETRY, rec).status_code == 503
    assert server.hits == 1


def test_non_retryable_exception_propagates_at_once():
    rec = Recorder()
    calls = []

    def fn():
        calls.append(1)
        raise ValueError("bug")

    with pytest.raises(ValueError):
        send_with_retry(fn, POLICY, log=rec.log, sleep=rec.sleep)
    assert calls == [1]


def test_logger_object_accepted(server, caplog):
    server.answers = [(502, {}), (200, {})]
    import logging

    logger = logging.getLogger("test.retry")
    with caplog.at_level(logging.WARNING, logger="test.retry"):
        send_with_retry(lambda: requests.get(server.url, timeout=5), POLICY, log=logger, what="GET x",
                        sleep=lambda s: None)
    assert any("attempt 2/5" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "kwargs",
    [{"attempts": 0}, {"attempts": 1.5}, {"attempts": True}, {"base_delay": -1}, {"max_delay": "x"}],
)
def test_bad_policy_is_config_error(kwargs):
    with pytest.raises(ConfigError) as info:
        RetryPolicy(**kwargs)
    assert info.value.hint


def test_policy_from_settings():
    from image_release.settings import parse_settings

    policy = RetryPolicy.from_settings(parse_settings({"retry": {"attempts": 2, "base_delay": 0.1}}))
    assert policy == RetryPolicy(attempts=2, base_delay=0.1, max_delay=30.0)
    assert RetryPolicy.from_settings(parse_settings({})) == RetryPolicy()
    with pytest.raises(ConfigError, match="unknown setting"):
        parse_settings({"retry": {"tries": 3}})


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_delays_are_config_errors(value):
    with pytest.raises(ConfigError):
        RetryPolicy(base_delay=value)
    with pytest.raises(ConfigError):
        RetryPolicy(max_delay=value)


def test_parse_retry_after():
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after(email.utils.formatdate(1000, usegmt=True), now=990) == pytest.approx(10)
    assert parse_retry_after("nan") is None
    assert parse_retry_after("1e999") == float("inf")  # capped by the policy's max_delay when waited


# -- call_with_retry: any call whose failures are exceptions (the engine push) ---------------------------------


def test_call_with_retry_retries_transient_errors_then_returns():
    from image_release.adapters.http_retry import call_with_retry, transient_release_error
    from image_release.errors import RegistryError, RegistryUnreachable

    rec = Recorder()
    failures = [RegistryUnreachable("registry down"), RegistryError("busy", status=429)]

    def push():
        if failures:
            raise failures.pop(0)
        return "sha256:abc"

    assert call_with_retry(push, POLICY, transient=transient_release_error, log=rec.log, what="push app:1",
                           sleep=rec.sleep) == "sha256:abc"
    assert rec.sleeps == [0.5, 1.0]
    assert rec.lines == ["retry push app:1: registry down; attempt 2/5 in 0.50s",
                         "retry push app:1: busy; attempt 3/5 in 1.00s"]


def test_call_with_retry_stops_at_a_non_transient_error_and_gives_up_as_asked():
    from image_release.adapters.http_retry import call_with_retry, transient_release_error
    from image_release.errors import PublishError, RegistryError

    rec = Recorder()
    failures = [RegistryError("busy", status=503), RegistryError("denied", status=403)]

    def push():
        raise failures.pop(0)

    def give_up(exc, attempts):
        return PublishError(f"{exc.message} (after {attempts} attempts)", hint="re-run")

    with pytest.raises(PublishError) as info:
        call_with_retry(push, POLICY, transient=transient_release_error, log=rec.log, sleep=rec.sleep,
                        give_up=give_up)
    assert info.value.message == "denied (after 2 attempts)"
    assert info.value.__cause__.status == 403
    assert len(rec.lines) == 1 and failures == []


def test_call_with_retry_attempts_bounded_and_last_error_raised():
    from image_release.adapters.http_retry import call_with_retry
    from image_release.errors import RegistryUnreachable

    rec = Recorder()
    calls = []

    def push():
        calls.append(1)
        raise RegistryUnreachable(f"down {len(calls)}")

    with pytest.raises(RegistryUnreachable, match="down 3"):
        call_with_retry(push, RetryPolicy(attempts=3, base_delay=1, jitter=False), log=rec.log, sleep=rec.sleep)
    assert len(calls) == 3 and rec.sleeps == [1, 2]
    with pytest.raises(ValueError):  # not a ReleaseError: never transient by default
        call_with_retry(lambda: int("x"), POLICY, log=rec.log, sleep=rec.sleep)
    assert len(rec.lines) == 2


# -- urllib3_retry: the same policy inside requests (PyGithub, python-gitlab) ---------------------------------


def adapter_session(policy, rec, **kw):
    from requests.adapters import HTTPAdapter

    from image_release.adapters.http_retry import urllib3_retry

    session = requests.Session()
    session.mount("http://", HTTPAdapter(max_retries=urllib3_retry(policy, log=rec.log, sleep=rec.sleep, **kw)))
    return session


@pytest.mark.parametrize("status", [500, 503, 408, 429])
def test_urllib3_retry_uses_the_policy(server, status):
    server.answers = [(status, {}), (status, {}), (200, {})]
    rec = Recorder()
    resp = adapter_session(POLICY, rec).get(server.url + "?token=query-not-logged", timeout=5)
    assert resp.status_code == 200 and server.hits == 3
    assert rec.sleeps == [0.5, 1.0]
    assert rec.lines == [f"retry GET /x: HTTP {status}; attempt 2/5 in 0.50s",
                         f"retry GET /x: HTTP {status}; attempt 3/5 in 1.00s"]


def test_urllib3_retry_bounded_returns_the_last_answer(server):
    server.answers = [(502, {})]
    rec = Recorder()
    resp = adapter_session(RetryPolicy(attempts=3, base_delay=1, jitter=False), rec).post(server.url, data=b"x")
    assert resp.status_code == 502 and server.hits == 3  # POST too: every method is retried
    assert rec.sleeps == [1, 2]


def test_urllib3_retry_other_4xx_not_retried(server):
    server.answers = [(404, {}), (200, {})]
    rec = Recorder()
    assert adapter_session(POLICY, rec).get(server.url).status_code == 404
    assert server.hits == 1 and rec.lines == []


def test_urllib3_retry_after_honoured_and_capped(server):
    server.answers = [(429, {"Retry-After": "3"}), (503, {"Retry-After": "3600"}), (200, {})]
    rec = Recorder()
    adapter_session(RetryPolicy(attempts=3, max_delay=12, jitter=False), rec).get(server.url)
    assert rec.sleeps == [3, 12]
    assert "HTTP 429 (Retry-After 3)" in rec.lines[0]


def test_urllib3_retry_connection_errors_then_raised():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    rec = Recorder()
    with pytest.raises(requests.ConnectionError):
        adapter_session(RetryPolicy(attempts=3, jitter=False), rec).get(f"http://127.0.0.1:{port}/y", timeout=2)
    assert len(rec.sleeps) == 2 and "retry GET /y: NewConnectionError" in rec.lines[0]


def test_urllib3_retry_one_attempt_is_no_retry(server):
    server.answers = [(503, {}), (200, {})]
    rec = Recorder()
    assert adapter_session(NO_RETRY, rec).get(server.url).status_code == 503
    assert server.hits == 1 and rec.lines == []


def test_urllib3_retry_describe_words_the_subject(server):
    server.answers = [(502, {}), (200, {})]
    rec = Recorder()
    session = adapter_session(POLICY, rec, describe=lambda m, p, r: f"after X answered {r} to {m} {p}")
    session.get(server.url)
    assert rec.lines == ["retry after X answered HTTP 502 to GET /x; attempt 2/5 in 0.50s"]
