"""Run images, tags and the other run fields through the official sigopt 8.8.3 client,
against a real ``honed serve`` on SQLite and on PostgreSQL.

``RunContext`` is what ``sigopt.create_run`` and ``experiment.loop()`` hand user code; its
``log_image`` declares the file, PUTs the bytes to the URL honed answers with, and raises if
that fails. The tests fetch every image back and compare it byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import matplotlib
import numpy as np
import png
import pytest
from PIL import Image

from tests.e2e.sigopt_worker import ApiException
from tests.e2e.sigopt_worker import connection
from tests.e2e.sigopt_worker import reset_throttle
from tests.support.server import RunningServer
from tests.support.server import running_server

matplotlib.use("Agg")
from matplotlib.figure import Figure
from sigopt.run_context import RunContext

PROJECT = "run-files"
MAX_FILE_BYTES = 200_000


@dataclass
class Served:
    server: RunningServer
    files_dir: Path | None  # where the SQLite server keeps files by default


@pytest.fixture(scope="module")
def served(backend_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server per backend for the module: on SQLite with its default file directory
    beside the database, on PostgreSQL with ``--files-dir``."""
    args = ["--max-file-size", str(MAX_FILE_BYTES)]
    if backend_url.startswith("sqlite:///"):
        files_dir = Path(backend_url.removeprefix("sqlite:///")).parent / "honed-files"
    else:
        files_dir = tmp_path_factory.mktemp("files")
        args += ["--files-dir", str(files_dir)]
    with running_server(backend_url, extra_args=args, startup_timeout=240) as server:
        with connection(server.url, server.token) as conn:
            client = conn.tokens("self").fetch().client
            conn.clients(client).projects().create(id=PROJECT, name="Run files")
        yield Served(server, files_dir)


@pytest.fixture
def run(served: Served) -> Iterator[RunContext]:
    """A new run of the project, as ``sigopt.create_run`` makes one."""
    reset_throttle()
    with connection(served.server.url, served.server.token) as conn:
        client = conn.tokens("self").fetch().client
        created = conn.clients(client).projects(PROJECT).training_runs().create(name="a run")
        yield RunContext(conn, created)


def api(served: Served) -> httpx.Client:
    return httpx.Client(base_url=served.server.url, auth=(served.server.token, ""), timeout=30)


def png_bytes(width: int, height: int) -> bytes:
    rows = [[(x * 7 + y * 3) % 256 for x in range(width * 3)] for y in range(height)]
    out = io.BytesIO()
    png.Writer(width, height, greyscale=False).write(out, rows)
    return out.getvalue()


def fetched(served: Served, file_id: str) -> tuple[dict[str, Any], bytes]:
    """The file object, and its bytes from the signed download URL it gives (no token)."""
    with api(served) as client:
        file = client.get(f"/v1/files/{file_id}").json()
    download = httpx.get(file["download"]["url"], timeout=30)
    assert download.status_code == 200, download.text
    return file, download.content


def md5_base64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def test_log_image_round_trips_byte_for_byte(
    served: Served, run: RunContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "loss.png"
    path.write_bytes(png_bytes(24, 16))
    pil = Image.new("RGB", (20, 10), (200, 30, 60))
    array = np.arange(12 * 9 * 3, dtype=np.uint8).reshape(12, 9, 3)
    # A fixed date and ids make the SVG of a figure the same every time it is saved.
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    matplotlib.rcParams["svg.hashsalt"] = "honed"
    figure = Figure(figsize=(2, 2))
    figure.add_subplot().plot([0, 1, 2], [3, 1, 2])

    pil_png = io.BytesIO()
    pil.save(pil_png, "PNG")
    array_png = io.BytesIO()
    png.Writer(9, 12, greyscale=False).write(array_png, array.reshape(12, 27))
    figure_svg = io.BytesIO()
    figure.savefig(figure_svg, format="svg")

    run.log_image(str(path), name="loss curve")
    run.log_image(pil, name="pil")
    run.log_image(array)  # no name: the file is known by its content only
    run.log_image(figure, name="figure")

    stored = run.connection.training_runs(run.id).fetch()
    assert len(stored.files) == 4
    expected = [
        ("loss curve", str(path), "image/png", path.read_bytes()),
        ("pil", None, "image/png", pil_png.getvalue()),
        (None, None, "image/png", array_png.getvalue()),
        ("figure", None, "image/svg+xml", figure_svg.getvalue()),
    ]
    for file_id, (name, filename, content_type, content) in zip(
        stored.files, expected, strict=True
    ):
        file, data = fetched(served, file_id)
        assert data == content
        assert (file["name"], file["filename"], file["content_type"]) == (
            name,
            filename,
            content_type,
        )
        assert file["content_length"] == len(content)
        assert file["content_md5"] == md5_base64(content)
        assert (file["uploaded"], file["training_run"]) == (True, run.id)
    if served.files_dir is not None:
        stored_files = [p for p in served.files_dir.rglob("*") if p.is_file()]
        assert path.read_bytes() in {p.read_bytes() for p in stored_files}

    # The same bytes with the API token instead of a signed URL (what the dashboard uses).
    with api(served) as client:
        served_file = client.get(f"/v1/files/{stored.files[0]}/content")
    assert served_file.content == path.read_bytes()
    assert served_file.headers["content-type"] == "image/png"
    assert served_file.headers["content-disposition"] == 'attachment; filename="loss.png"'
    assert "sandbox" in served_file.headers["content-security-policy"]


def test_tags_round_trip(served: Served, run: RunContext) -> None:
    conn = run.connection
    client = conn.tokens("self").fetch().client

    def request(method: str, *path: str, body: Any = None) -> Any:
        return conn.impl.request(method, list(path), body, None)

    red = request("POST", "clients", client, "tags", body={"name": "red", "color": "#FF0000"})
    blue = request("POST", "clients", client, "tags", body={"name": "blue", "color": "#0000ff"})
    assert (red["object"], red["name"], red["color"]) == ("tag", "red", "#FF0000")
    listed = request("GET", "clients", client, "tags")
    assert [t["name"] for t in listed["data"]] == ["blue", "red"]

    assert request("POST", "training_runs", run.id, "tags", body={"id": blue["id"]}) == blue
    request("POST", "training_runs", run.id, "tags", body={"id": red["id"]})
    request("POST", "training_runs", run.id, "tags", body={"id": red["id"]})  # no-op
    assert conn.training_runs(run.id).fetch().tags == sorted([red["id"], blue["id"]], key=int)
    assert request("DELETE", "training_runs", run.id, "tags", blue["id"]) == blue
    assert conn.training_runs(run.id).fetch().tags == [red["id"]]

    # Refused, and the run keeps its tag.
    with pytest.raises(ApiException) as unknown:
        request("POST", "training_runs", run.id, "tags", body={"id": "999999"})
    assert unknown.value.status_code == 422
    assert "Invalid id: the tag with id 999999" in str(unknown.value)
    with pytest.raises(ApiException) as duplicate:
        request("POST", "clients", client, "tags", body={"name": "red", "color": "#00ff00"})
    assert duplicate.value.status_code == 409
    with pytest.raises(ApiException) as color:
        request("POST", "clients", client, "tags", body={"name": "green", "color": "green"})
    assert color.value.status_code == 400
    assert "Invalid color" in str(color.value)
    with pytest.raises(ApiException) as missing:
        request("DELETE", "training_runs", run.id, "tags", "999999")
    assert missing.value.status_code == 404
    assert conn.training_runs(run.id).fetch().tags == [red["id"]]


def test_every_logging_call_of_the_client_is_stored(run: RunContext) -> None:
    run.log_metadata("gpu", "a100")
    run.log_metadata("batch", 64)
    run.log_dev_metadata("commit", "abc123")
    run.log_sys_metadata("python", "3.11")
    run.log_dataset("mnist")
    run.log_dataset("cifar")
    run.log_model("ResNet")
    run.log_source_code(content="print(1)", hash="f00")
    run.set_logs({"stdout": "epoch 1\nepoch 2\n", "stderr": "warning"})
    run.set_parameters({"lr": 0.1, "layers": 3})
    run.set_parameters_source({"lr": 0.1}, "manual")
    run.log_metric("accuracy", 0.9, stddev=0.01)
    run.log_checkpoint({"accuracy": 0.5})
    run.end()

    stored = run.connection.training_runs(run.id).fetch()
    assert stored.state == "completed"
    assert stored.metadata.to_json() == {"gpu": "a100", "batch": 64}
    assert stored.dev_metadata.to_json() == {"commit": "abc123"}
    assert stored.sys_metadata.to_json() == {"python": "3.11"}
    assert sorted(stored.to_json()["datasets"]) == ["cifar", "mnist"]
    assert stored.model.type == "ResNet"
    assert (stored.source_code.content, stored.source_code.hash) == ("print(1)", "f00")
    assert (stored.logs["stdout"], stored.logs["stderr"]) == ("epoch 1\nepoch 2\n", "warning")
    assert stored.assignments.to_json() == {"lr": 0.1, "layers": 3}
    assert stored.to_json()["assignments_meta"]["lr"]["source"] == "manual"
    assert (stored.values["accuracy"].value, stored.values["accuracy"].value_stddev) == (0.9, 0.01)
    assert stored.checkpoint_count == 1


# --- bad input --------------------------------------------------------------------------------

GOOD = b"\x89PNG not really, but bytes"


def declare(client: httpx.Client, run_id: str, content: bytes = GOOD, **changes: Any) -> Any:
    body = {
        "content_length": len(content),
        "content_md5": md5_base64(content),
        "content_type": "image/png",
        "name": "image",
        "filename": "image.png",
        **changes,
    }
    return client.post(f"/v1/training_runs/{run_id}/files", json=body)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"content_length": 0}, "content_length"),
        ({"content_length": -1}, "content_length"),
        ({"content_length": "1"}, "content_length"),
        ({"content_length": MAX_FILE_BYTES + 1}, "content_length"),
        ({"content_type": "hello/world"}, "content_type"),
        ({"content_type": "image"}, "content_type"),
        ({"content_type": "image/<>"}, "content_type"),
        ({"content_md5": "aGhlbGxv"}, "content_md5"),
        ({"content_md5": "not base64!"}, "content_md5"),
        ({"name": "n" * 101}, "name"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_declarations_are_refused_naming_the_field(
    served: Served, run: RunContext, changes: dict[str, Any], field: str
) -> None:
    with api(served) as client:
        answer = declare(client, run.id, **changes)
        assert answer.status_code == 400, answer.text
        assert field in answer.json()["message"]
        assert client.get(f"/v1/training_runs/{run.id}").json()["files"] == []


def test_bad_uploads_store_nothing_and_lose_nothing(served: Served, run: RunContext) -> None:
    with api(served) as client:
        file = declare(client, run.id).json()
        upload = file["upload"]
        assert upload["method"] == "PUT"
        url, headers = upload["url"], upload["headers"]
        assert client.get(f"/v1/training_runs/{run.id}").json()["files"] == [file["id"]]

        def put(data: bytes, **extra: str) -> httpx.Response:
            sent = {k: v for k, v in headers.items() if k != "Content-Length"}
            return httpx.put(url, content=data, headers={**sent, **extra}, timeout=30)

        refused = [
            (put(GOOD[::-1]), 400, "content_md5"),  # same length, other bytes
            (put(GOOD[:-1]), 400, "content_length"),
            (put(GOOD + b"!"), 400, "content_length"),
            (put(GOOD, **{"Content-Type": "image/gif"}), 400, "Content-Type"),
            (put(GOOD, **{"Content-MD5": md5_base64(b"x")}), 400, "Content-MD5"),
            (httpx.put(url.replace("signature=", "signature=1")[:-1], content=GOOD), 403, "URL"),
            (httpx.put(url.split("?")[0], content=GOOD), 400, "expires"),
            (httpx.put(url.replace(f"/{file['id']}/", "/999999/"), content=GOOD), 404, "999999"),
        ]
        for answer, status, named in refused:
            assert answer.status_code == status, answer.text
            assert named in answer.json()["message"], answer.text
            pending = client.get(f"/v1/files/{file['id']}").json()
            assert (pending["uploaded"], "download" in pending) == (False, False)
        assert client.get(f"/v1/files/{file['id']}/content").status_code == 404

        assert put(GOOD).status_code == 200  # the declared bytes are still welcome
        again = put(GOOD)
        assert again.status_code == 409
        assert "uploaded already" in again.json()["message"]
        assert client.get(f"/v1/files/{file['id']}/content").content == GOOD

        missing = client.get("/v1/files/999999")
        assert missing.status_code == 404
        # As another client's file: an id tells a caller nothing.
        assert missing.json()["message"] == "The requested resource could not be found"
        assert declare(client, "999999").status_code == 404
        download = client.get(f"/v1/files/{file['id']}").json()["download"]["url"]
        assert httpx.get(download.replace("signature=", "signature=1")[:-1]).status_code == 403
