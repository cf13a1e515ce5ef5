"""Photo uploads over tus against a real server: throughput and the server's memory.

    python bench/uploads.py [--photos 20] [--mb 8] [--parallel 4] [--chunk-mb MB] [--httpx]
                            [--profile FILE [--profile-gil]]

PHOTOS JPEGs of about MB megabytes each (one noisy photo, a few pixels changed
per copy so every hash differs) are uploaded PARALLEL at a time over loopback
to a `fieldsync serve` process: POST /files, then PATCH in CHUNK_MB pieces
(by default the client SDK's, `client_sdk.media.DEFAULT_CHUNK`), each uploader
on a kept-alive connection of the standard library's HTTP client (`--httpx`:
httpx, as before session 30, which costs this machine twice the CPU a MB).
The same bytes, in the same run, go through `sha256sum` and a plain file copy
(`cp`): the server hashes and writes every byte too, so that is the floor it is
compared with. Memory is the server worker's (granian serves from a child
process of the one started): its resident set before the run, sampled during
it, and its high-water mark (VmHWM) after. Prints figures; asserts nothing
about time. The worker's CPU is also given by thread: the event loop (its main thread),
granian's runtime (`tokio-rt-worker`) and Python's other threads (`python`: hashing, writing,
the JPEG check, the database). `--profile FILE` records the worker with py-spy (`pip install py-spy`)
during the upload, as collapsed stacks (one line a stack, its sample count last).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import io
import os
import queue
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _tus as tus
from bench._server import ServerProcess
from client_sdk.media import DEFAULT_CHUNK
from server.services import Store
from server.settings import Settings

SITE = str(uuid.uuid5(uuid.NAMESPACE_URL, "upload-bench-site"))


def make_photos(folder: Path, count: int, megabytes: float) -> list[Path]:
    """One noisy JPEG of about the size asked for; each copy has a few pixels of its own."""
    from PIL import Image

    rng = random.Random(7)

    def noise(pixels: int) -> Image.Image:
        width = int((pixels * 4 / 3) ** 0.5)
        return Image.frombytes("RGB", (width, pixels // width), rng.randbytes(width * (pixels // width) * 3))

    def encoded(img: Image.Image) -> bytes:
        out = io.BytesIO()
        img.save(out, "JPEG", quality=92)
        return out.getvalue()

    # Sized from a sample: how many bytes a pixel of noise takes at this quality.
    sample = 1_000_000
    per_pixel = len(encoded(noise(sample))) / sample
    base = noise(int(megabytes * 1024 * 1024 / per_pixel))
    paths = []
    for i in range(count):
        img = base.copy()
        for k in range(4):
            img.putpixel((k, i), (i * 11 % 256, k * 60, 255 - i))
        path = folder / f"photo-{i:02d}.jpg"
        path.write_bytes(encoded(img))
        paths.append(path)
    return paths


def lean_upload(connection: http.client.HTTPConnection, auth: dict[str, str], data: bytes, chunk: int) -> str | None:
    """The bytes uploaded as `tus.upload` does, over one kept-alive connection of the standard library's
    client, which sends a PATCH's body in one `sendall`; what went wrong, or None. httpx (`--httpx`)
    copies the rest of a body after each partial send of it, and took 4-5 ms of this client's CPU per
    MB, as much as the server with its JPEG check made cheap (session 30), on the two cores they share."""
    headers = {**auth, **tus.TUS, "Upload-Length": str(len(data)),
               "Upload-Metadata": tus.metadata(hashlib.sha256(data).hexdigest(), "image/jpeg")}
    connection.request("POST", "/files", headers=headers)
    answer = connection.getresponse()
    text = answer.read()
    location, offset = answer.getheader("location"), int(answer.getheader("upload-offset") or -1)
    if answer.status != 201 or location is None:
        return f"{answer.status} {text[:200]!r}"
    body = memoryview(data)
    while offset < len(data):
        connection.request("PATCH", location, body=body[offset:offset + chunk],
                           headers={**auth, **tus.PATCH, "Upload-Offset": str(offset)})
        answer = connection.getresponse()
        text = answer.read()
        if answer.status != 204:
            return f"{answer.status} {text[:200]!r}"
        offset = int(answer.getheader("upload-offset") or -1)
    return None if offset == len(data) else f"ended at {offset} of {len(data)}"


def prepare(data: Path, technicians: list[str]) -> None:
    store = Store(Settings(data_dir=data, demo=True))
    try:
        for name in technicians:
            store.create_user(name, name, "technician", "demo", demo=True)
            store.add_member(SITE, name)
    finally:
        store.close()


def group_pids(pgid: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            pids.append(int(stat.parent.name))
    return pids


def status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds so far of each kind of thread of a process, by the thread's name (granian's
    runtime threads, the event loop's (the main thread), Python's other threads): where the server's CPU goes."""
    out: dict[str, float] = {}
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text.rpartition(")")[2].split()
        name = "event loop" if stat.parent.name == str(pid) else name.rstrip("0123456789-_ ") or name
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def worker_pid(server: ServerProcess) -> int:
    """The process that serves: the group member with the largest resident set (granian's worker)."""
    assert server.proc is not None
    pids = group_pids(server.proc.pid)
    children = [p for p in pids if p != server.proc.pid] or pids
    return max(children, key=lambda p: status_kb(p, "VmRSS"))


def profiler(pid: int, out: Path, gil: bool = False) -> subprocess.Popen[bytes]:
    """py-spy sampling every thread of the worker until it is sent SIGINT (it writes the file then);
    with `gil` only the thread holding the GIL (Python's own work, not C code that lets it go)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    proc = subprocess.Popen([spy, "record", "--pid", str(pid), "--format", "raw", "--output", str(out),
                             "--rate", "250", "--nonblocking", *(["--gil"] if gil else [])], stdout=subprocess.DEVNULL)
    time.sleep(1)  # py-spy attaches before the upload starts; only the profile waits on this
    return proc


def baseline(paths: list[Path], scratch: Path) -> tuple[float, float]:
    """Seconds for `sha256sum` of every file plus a plain copy of every file, and the CPU seconds they took."""
    children, own = resource.getrusage(resource.RUSAGE_CHILDREN), time.process_time()
    start = time.perf_counter()
    subprocess.run(["sha256sum", *map(str, paths)], check=True, stdout=subprocess.DEVNULL)
    hashed = time.perf_counter()
    scratch.mkdir()
    for path in paths:
        shutil.copyfile(path, scratch / path.name)
    os.sync()
    copied = time.perf_counter()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime) + (time.process_time() - own)
    print(f"  sha256sum {hashed - start:.2f} s, copy {copied - hashed:.2f} s")
    return copied - start, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=20)
    parser.add_argument("--mb", type=float, default=8.0)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--chunk-mb", type=float, default=DEFAULT_CHUNK / 2**20,
                        help="PATCH size in MB (default: the client SDK's)")
    parser.add_argument("--httpx", action="store_true",
                        help="upload with httpx (the client SDK's library; the bench's client before session 30)")
    parser.add_argument("--profile", metavar="FILE", type=Path,
                        help="record the server worker with py-spy during the upload (collapsed stacks)")
    parser.add_argument("--profile-gil", action="store_true",
                        help="with --profile: sample only the thread holding the GIL")
    args = parser.parse_args()
    chunk = int(args.chunk_mb * 1024 * 1024)
    technicians = [f"tech{i}" for i in range(args.parallel)]

    with tempfile.TemporaryDirectory(prefix="fieldsync-uploads-") as tmp:
        root = Path(tmp)
        (root / "photos").mkdir()
        print(f"making {args.photos} photos of about {args.mb} MB ...")
        paths = make_photos(root / "photos", args.photos, args.mb)
        total = sum(p.stat().st_size for p in paths)
        print(f"  {total / 2**20:.1f} MB in all, {total / len(paths) / 2**20:.2f} MB each")

        prepare(root / "data", technicians)
        server = ServerProcess(root / "data").start()
        try:
            auth = {}
            for name in technicians:
                body = httpx.post(server.url + "/auth/token", json={"username": name, "password": "demo"}).json()
                auth[name] = {"Authorization": f"Bearer {body['token']}"}
            # Warm up (imports, Pillow, the first thread pool) with one small upload, then measure.
            from PIL import Image

            warm = io.BytesIO()
            Image.new("RGB", (32, 32), "gray").save(warm, "JPEG")
            with httpx.Client(base_url=server.url) as client:
                assert tus.upload(client, auth[technicians[0]], warm.getvalue()).status_code == 204
            worker = worker_pid(server)
            rss_before = status_kb(worker, "VmRSS")
            hwm_before = status_kb(worker, "VmHWM")
            peak_sampled = rss_before
            cpu_before, threads_before = cpu_seconds(worker), thread_cpu(worker)
            done = threading.Event()

            def sample() -> None:
                nonlocal peak_sampled
                while not done.is_set():
                    try:
                        peak_sampled = max(peak_sampled, status_kb(worker, "VmRSS"))
                    except OSError:
                        return
                    time.sleep(0.005)

            todo: queue.Queue[Path] = queue.Queue()
            for path in paths:
                todo.put(path)
            failures: list[str] = []

            def upload(name: str) -> None:
                if args.httpx:
                    with httpx.Client(base_url=server.url, timeout=120) as client:
                        while (path := next_photo()) is not None:
                            data = path.read_bytes()
                            r = tus.upload(client, auth[name], data, "image/jpeg", chunk=chunk)
                            if r.status_code != 204 or int(r.headers["upload-offset"]) != len(data):
                                failures.append(f"{path.name}: {r.status_code} {r.text[:200]}")
                    return
                connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
                try:
                    while (path := next_photo()) is not None:
                        if (failure := lean_upload(connection, auth[name], path.read_bytes(), chunk)) is not None:
                            failures.append(f"{path.name}: {failure}")
                finally:
                    connection.close()

            def next_photo() -> Path | None:
                try:
                    return todo.get_nowait()
                except queue.Empty:
                    return None

            sampler = threading.Thread(target=sample)
            sampler.start()
            threads = [threading.Thread(target=upload, args=(name,)) for name in technicians]
            spy = profiler(worker, args.profile, args.profile_gil) if args.profile else None
            start, client_cpu = time.perf_counter(), time.process_time()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed, client_cpu = time.perf_counter() - start, time.process_time() - client_cpu
            done.set()
            sampler.join()
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait()
            server_cpu = cpu_seconds(worker) - cpu_before
            by_thread = {name: cpu - threads_before.get(name, 0.0) for name, cpu in thread_cpu(worker).items()}
            hwm_after = status_kb(worker, "VmHWM")
            rss_after = status_kb(worker, "VmRSS")
        finally:
            server.stop()

        stored = 0
        for path in paths:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            blob = root / "data" / "blobs" / digest[:2] / digest[2:4] / digest
            stored += blob.is_file() and blob.stat().st_size == path.stat().st_size
        leftovers = list((root / "data" / "uploads").iterdir())

        print(f"uploading {args.photos} photos, {args.parallel} at a time, PATCH chunks of {chunk / 2**20:g} MB:")
        print(f"  {elapsed:.2f} s, {total / 2**20 / elapsed:.1f} MB/s; {stored}/{len(paths)} blobs stored,"
              f" {len(failures)} failures, {len(leftovers)} temporary files left")
        for failure in failures[:5]:
            print("   ", failure)
        print("sha256sum + copy of the same bytes:")
        floor, floor_cpu = baseline(paths, root / "copy")
        print(f"  {floor:.2f} s, {total / 2**20 / floor:.1f} MB/s; {floor_cpu:.2f} CPU s")
        print(f"server worker CPU during the upload: {server_cpu:.2f} s"
              f" ({server_cpu / (total / 2**20) * 1000:.1f} ms per MB; sha256sum+copy"
              f" {floor_cpu / (total / 2**20) * 1000:.1f} ms per MB); this client {client_cpu:.2f} s; load average {os.getloadavg()[0]:.1f}"
              f" on {os.cpu_count()} processors")
        mb = total / 2**20
        print("  by thread (ms per MB): " + ", ".join(
            f"{name} {cpu / mb * 1000:.1f}" for name, cpu in sorted(by_thread.items(), key=lambda kv: -kv[1]) if cpu > 0))
        print(f"ratio (upload speed / sha256sum+copy speed): {floor / elapsed:.2f}  (aim: at least 0.5)")
        print(f"server worker memory: RSS {rss_before / 1024:.1f} MB before, peak sampled {peak_sampled / 1024:.1f} MB,"
              f" {rss_after / 1024:.1f} MB after; VmHWM {hwm_before / 1024:.1f} -> {hwm_after / 1024:.1f} MB")
        growth = max(hwm_after, peak_sampled) - rss_before
        print(f"peak growth during the run: {growth / 1024:.1f} MB  (aim: under 64 MB)")
        return 0 if not failures and stored == len(paths) else 1


if __name__ == "__main__":
    sys.exit(main())
