"""The versioned IO managers' manifest under concurrent writers, on the local folder and on MinIO: the pointer
move is a compare-and-swap, version numbers are reserved, and two writers at once lose nothing."""

import threading

import dagster as dg

from forecast_assets.resources.io_managers import UNPARTITIONED, JsonIOManager

BUCKET = "ml-experiments"
REPORT = dg.AssetKey("report")


def run_at_once(*writers) -> None:
    start = threading.Barrier(len(writers))
    failures = []

    def run(writer):
        start.wait()
        try:
            writer()
        except Exception as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=run, args=(w,)) for w in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not failures, failures


def test_two_writers_at_once_never_share_a_version_or_lose_a_pointer_move(new_warehouse):
    """Two runs materialize the same asset at once, ten times each: twenty distinct versions, each folder
    holding what its writer wrote, and every partition pointer either of them moved."""
    managers = {name: JsonIOManager(warehouse=new_warehouse(), bucket=BUCKET) for name in ("a", "b")}
    written: dict[str, list[int]] = {"a": [], "b": []}

    def writer(name: str):
        def write():
            manager = managers[name]
            for i in range(10):
                context = dg.build_output_context(asset_key=REPORT, run_id=f"{name}-{i}")
                manager.handle_output(context, {"writer": name, "i": i})
                written[name].append(manager.read_manifest(REPORT).pointer()["version"])
                version = manager.reserve_version(REPORT)
                manager.point_to(REPORT, {f"{name}-{i}": {"key": f"report/v{version:04d}.json"}}, version, name)

        return write

    run_at_once(writer("a"), writer("b"))
    manifest = managers["a"].read_manifest(REPORT)
    assert manifest.last_version == 40  # 20 writes and 20 pointer moves, each with a number of its own
    partitions = {k: v["version"] for k, v in manifest.current.items() if k != UNPARTITIONED}
    assert set(partitions) == {f"{n}-{i}" for n in "ab" for i in range(10)}  # no pointer move lost
    assert len(set(partitions.values())) == 20
    documents = {}
    for version in range(1, 41):
        body = managers["b"].warehouse.read_bytes(BUCKET, f"report/v{version:04d}.json")
        if body is not None:
            documents[version] = body
    assert len(documents) == 20  # one document per write, none overwritten by the other writer
    assert sorted(b'"writer": "a"' in body for body in documents.values()) == [False] * 10 + [True] * 10
