"""bench/ reads wrk's output and loads only this machine."""
import pytest

from bench.run import BenchError, parse_wrk, require_loopback

WRK_OUTPUT = """Running 5s test @ http://127.0.0.1:8000/api/v1/me
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    95.10ms   40.02ms 401.00ms   70.00%
  Latency Distribution
     50%   88.21ms
     75%  110.00ms
     90%  150.00ms
     99%    1.20s
  1510 requests in 5.00s, 0.90MB read
  Socket errors: connect 0, read 0, write 0, timeout 4
  Non-2xx or 3xx responses: 7
Requests/sec:    302.01
Transfer/sec:    184.00KB
"""


def test_wrk_output_is_read_with_units():
    run = parse_wrk(WRK_OUTPUT)
    assert run["rps"] == pytest.approx(302.01)
    assert run["p50_ms"] == pytest.approx(88.21)
    assert run["p99_ms"] == pytest.approx(1200.0)
    assert run["non2xx"] == 7 and run["requests"] == 1510
    assert run["socket_errors"]["timeout"] == 4


@pytest.mark.parametrize("url", ["http://10.0.0.5:8000", "http://example.com", "http://192.168.1.2"])
def test_only_loopback_is_loaded(url):
    with pytest.raises(BenchError):
        require_loopback(url)


def test_loopback_is_accepted():
    assert require_loopback("http://127.0.0.1:8000/") == "http://127.0.0.1:8000"
    assert require_loopback("http://localhost:8000") == "http://localhost:8000"
