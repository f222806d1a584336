"""Download throughput from a loopback server: torchgraft vs torch.hub vs curl, side by side.

torchgraft.core.download   streams, hashes (sha256, in a second thread) and fsyncs, then renames
torch.hub (no hash)        download_url_to_file(url, dst, progress=False)
torch.hub (hash_prefix)    the same, checking a sha256 prefix while it streams
curl                       curl -s -o dst url   (no hash, no fsync)

The server is a separate process that answers with sendfile(), so it is rarely the bottleneck.
After one untimed warm-up round, each method runs --repeat times (interleaved, order rotated)
into a fresh destination; the table shows the median MB/s and the
ratio to curl. Targets: torchgraft >= 0.9x curl, and never slower than torch.hub.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SERVER = r"""
import http.server, os, sys
root = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        path = os.path.join(root, os.path.basename(self.path))
        size = os.path.getsize(path)
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        with open(path, "rb") as f:
            self.connection.sendfile(f)
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_port, flush=True)
s.serve_forever()
"""


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import torch.hub

    from torchgraft.core import download

    with tempfile.TemporaryDirectory(prefix="tg-dl-bench-") as tmp:
        tmp_path = Path(tmp)
        data = tmp_path / "weights.bin"
        with open(data, "wb") as fh:
            for _ in range(args.size_mb):
                fh.write(os.urandom(1 << 20))
        digest = hashlib.sha256(data.read_bytes()).hexdigest()
        server = subprocess.Popen([sys.executable, "-c", SERVER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        try:
            url = f"http://127.0.0.1:{server.stdout.readline().strip()}/weights.bin"
            out = tmp_path / "out"

            def clear() -> None:  # untimed: each method starts from an empty destination
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir()

            def torchgraft_once() -> None:
                os.environ["TORCHGRAFT_HOME"] = str(out / "tg-home")
                download(url, sha256=digest, progress=False)

            methods = {
                "torchgraft": torchgraft_once,
                "torch.hub (no hash)": lambda: torch.hub.download_url_to_file(url, str(out / "hub"), progress=False),
                "torch.hub (hash_prefix)": lambda: torch.hub.download_url_to_file(
                    url, str(out / "hub"), hash_prefix=digest[:10], progress=False
                ),
                "curl": lambda: subprocess.run(["curl", "-s", "-f", "-o", str(out / "curl"), url], check=True),
            }
            if shutil.which("curl") is None:
                raise SystemExit("bench_download needs curl on PATH for its reference column")
            times: dict[str, list[float]] = {k: [] for k in methods}
            for fn in methods.values():
                clear()
                fn()  # warm-up: in a VM, the first touch of fresh memory is slow for whoever comes first
            names = list(methods)
            for r in range(args.repeat):  # interleaved and rotated, so drift hits every method alike
                for name in names[r % len(names) :] + names[: r % len(names)]:
                    clear()
                    times[name].append(timed(methods[name]))
        finally:
            server.terminate()
            server.wait()
    mb = args.size_mb * (1 << 20) / 1e6
    rows = {name: mb / statistics.median(ts) for name, ts in times.items()}
    if args.json:
        print(json.dumps({"size_mb": args.size_mb, "MB_per_s": rows}, indent=2))
        return 0
    print(f"{args.size_mb} MiB over loopback, median of {args.repeat}, {os.cpu_count()} CPUs")
    for name, ts in times.items():
        print(f"  {name}: runs {', '.join(f'{t:.2f}s' for t in ts)}")
    print("| method | MB/s | vs curl | torchgraft vs this |")
    print("|---|---|---|---|")
    for name, rate in rows.items():
        print(f"| {name} | {rate:.0f} | {rate / rows['curl']:.2f}x | {rows['torchgraft'] / rate:.2f}x |")
    print("targets: torchgraft >= 0.9x curl; torchgraft >= 1.0x torch.hub")
    return 0


if __name__ == "__main__":
    sys.exit(main())
