"""The Warehouse (resources/storage.py) on a local folder and on MinIO: the same calls give the same answers on
both; a write is whole; a manifest update is a compare-and-swap; a key never leaves its bucket."""

from pathlib import Path

import pytest

from forecast_assets.resources.storage import StorageError

BUCKET = "ml-experiments"


def test_objects_are_written_read_listed_moved_and_deleted_alike(new_warehouse):
    warehouse = new_warehouse()
    warehouse.ensure_bucket(BUCKET)
    warehouse.ensure_bucket(BUCKET)  # harmless when it exists
    assert warehouse.read_bytes(BUCKET, "a/missing.json") is None
    assert warehouse.list_objects(BUCKET) == []
    warehouse.write_bytes(BUCKET, "b/2.json", b"two!")
    warehouse.write_bytes(BUCKET, "a/1.json", b"one")
    warehouse.write_bytes(BUCKET, "ab.json", b"x")
    warehouse.write_bytes(BUCKET, "a/_manifest.json", b"{}")  # hidden on both backends, as Spark's _SUCCESS
    warehouse.write_bytes(BUCKET, "a/.partial", b"")
    assert warehouse.read_bytes(BUCKET, "a/1.json") == b"one"
    listed = warehouse.list_objects(BUCKET)
    assert [(o.key, o.size) for o in listed] == [("a/1.json", 3), ("ab.json", 1), ("b/2.json", 4)]  # sorted by key
    assert [o.key for o in warehouse.list_objects(BUCKET, "a/")] == ["a/1.json"]  # a prefix, not a folder name
    assert [o.key for o in warehouse.list_objects(BUCKET, "a")] == ["a/1.json", "ab.json"]

    before = {o.key: o.version for o in listed}["b/2.json"]
    warehouse.write_bytes(BUCKET, "b/2.json", b"TWO!!")  # replaced whole
    after = {o.key: o for o in warehouse.list_objects(BUCKET, "b/")}["b/2.json"]
    assert warehouse.read_bytes(BUCKET, "b/2.json") == b"TWO!!" and after.size == 5 and after.version != before

    warehouse.move(BUCKET, "a/1.json", "c/moved.json")
    assert warehouse.read_bytes(BUCKET, "a/1.json") is None and warehouse.read_bytes(BUCKET, "c/moved.json") == b"one"
    warehouse.delete(BUCKET, "c/moved.json")
    warehouse.delete(BUCKET, "c/moved.json")  # harmless when it does not exist
    assert [o.key for o in warehouse.list_objects(BUCKET)] == ["ab.json", "b/2.json"]
    assert warehouse.read_bytes(BUCKET, "a/_manifest.json") == b"{}"  # not listed, still there
    if not warehouse.is_s3:  # the whole-write's temporary files (hidden from listings) are gone too
        folder = Path(warehouse.root_uri.removeprefix("file://")) / BUCKET
        assert sorted(p.name for p in folder.rglob("*") if p.is_file()) == [
            ".partial",
            "2.json",
            "_manifest.json",
            "ab.json",
        ]


def test_uri_and_key_of_are_inverse_and_stay_in_the_bucket(new_warehouse):
    warehouse = new_warehouse()
    uri = warehouse.uri(BUCKET, "report/v0001.json")
    assert uri.startswith("s3a://ml-experiments/" if warehouse.is_s3 else "file://") and uri.endswith(
        "/ml-experiments/report/v0001.json"
    )
    assert warehouse.key_of(BUCKET, uri) == "report/v0001.json"
    with pytest.raises(StorageError, match="is not inside bucket ml-models"):
        warehouse.key_of("ml-models", uri)
    with pytest.raises(StorageError, match="refusing unsafe object key"):
        warehouse.uri(BUCKET, "report/../../other-bucket/x")


def test_a_write_based_on_a_stale_read_writes_nothing(new_warehouse):
    warehouse = new_warehouse()
    warehouse.ensure_bucket(BUCKET)
    data, token = warehouse.read_for_update(BUCKET, "m.json")
    assert (data, token) == (None, None)
    assert warehouse.write_if_unchanged(BUCKET, "m.json", b"first", None)  # created
    assert not warehouse.write_if_unchanged(BUCKET, "m.json", b"again", None)  # it exists now: not created twice
    data, token = warehouse.read_for_update(BUCKET, "m.json")
    assert data == b"first"
    assert warehouse.write_if_unchanged(BUCKET, "m.json", b"second", token)
    assert not new_warehouse().write_if_unchanged(BUCKET, "m.json", b"stale", token)  # another writer came first
    assert warehouse.read_bytes(BUCKET, "m.json") == b"second"
    _, fresh = new_warehouse().read_for_update(BUCKET, "m.json")
    assert new_warehouse().write_if_unchanged(BUCKET, "m.json", b"third", fresh)  # a fresh read may write
    assert warehouse.read_bytes(BUCKET, "m.json") == b"third"
