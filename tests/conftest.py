"""Shared test setup: the real MNIST files, one torch thread, wandb kept offline, a local HTTP server."""

import http.server
import os
import threading
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)  # small ops crawl with 2 intra-op threads on the shared CI machine
os.environ.setdefault("WANDB_MODE", "offline")

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("RAM_DATA_DIR") or REPO.parent / "shared" / "data" / "mnist")


@pytest.fixture(scope="session")
def data_dir() -> str:
    if not (DATA_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.fail(f"MNIST not found in {DATA_DIR}: set RAM_DATA_DIR to the folder with the four .gz files")
    os.environ["RAM_DATA_DIR"] = str(DATA_DIR)
    return str(DATA_DIR)


class _Files(http.server.BaseHTTPRequestHandler):
    """Serves ``files`` (name -> body; "*" for any path), announcing ``claim`` bytes if set, then closes."""
    files: dict = {}
    claim: int | None = None

    def do_GET(self):
        body = self.files.get(self.path.rsplit("/", 1)[-1], self.files.get("*"))
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body) if self.claim is None else self.claim))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture()
def serve():
    """A real HTTP server on 127.0.0.1 for downloads: ``serve({name: bytes}, claim=None)`` -> its base URL.
    ``claim`` announces another length than the body's (a download that is cut short)."""
    servers = []

    def start(files: dict[str, bytes], claim: int | None = None) -> str:
        handler = type("Handler", (_Files,), {"files": files, "claim": claim})
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}/"

    yield start
    for httpd in servers:
        httpd.shutdown()
        httpd.server_close()
