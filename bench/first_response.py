#!/usr/bin/env python3
"""Time from exec to the first 200 answer of a server, over N fresh starts.

usage: first_response.py N URL -- COMMAND [ARGS...]
Prints the median and the worst time in milliseconds.
"""
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse


def first_200(url: str, argv: list[str]) -> float:
    u = urllib.parse.urlsplit(url)
    request = f"GET {u.path or '/'} HTTP/1.1\r\nHost: {u.netloc}\r\nConnection: close\r\n\r\n".encode()
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            if time.perf_counter() - start > 10:
                raise SystemExit(f"no 200 from {url} within 10 s")
            try:
                with socket.create_connection((u.hostname, u.port), timeout=1) as s:
                    s.sendall(request)
                    if s.recv(12).startswith(b"HTTP/1.1 200"):
                        return (time.perf_counter() - start) * 1000
            except OSError:
                pass
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    n, url, sep, *argv = sys.argv[1:]
    if sep != "--" or not argv:
        raise SystemExit(__doc__)
    times = [first_200(url, argv) for _ in range(int(n))]
    print(f"median {statistics.median(times):.1f} ms, worst {max(times):.1f} ms over {n} starts")


if __name__ == "__main__":
    main()
