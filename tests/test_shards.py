"""Every shard source a cluster uses: paths, braces, globs, .txt lists, pipe: commands, HTTP and S3 servers."""
import functools
import http.server
import itertools
import os
import socket
import sys
import threading

import pytest
import torch

from pseg_d2.data import EpochShardList, build_image_text_train_loader, expand_shards, resolve_shards
from conftest import tiny_cfg
from test_image_text_data import write_shards


def test_every_entry_form_expands(tmp_path):
    for name in ("b-1.tar", "b-0.tar", "other.tar"):
        (tmp_path / name).touch()
    (tmp_path / "list.txt").write_text(f"{tmp_path}/b-*.tar\n\nhttps://host/x-{{0..1}}.tar\n")
    assert expand_shards([str(tmp_path / "list.txt"), "pipe:cat /nfs/s{0..1}.tar", "gs://b/k.tar"]) == [
        f"{tmp_path}/b-0.tar", f"{tmp_path}/b-1.tar", "https://host/x-0.tar", "https://host/x-1.tar",
        "pipe:cat /nfs/s0.tar", "pipe:cat /nfs/s1.tar", "gs://b/k.tar",
    ]
    assert expand_shards(["s3://bucket/cc 3m/{0..1}.tar"]) == [
        "pipe:aws s3 cp 's3://bucket/cc 3m/0.tar' -", "pipe:aws s3 cp 's3://bucket/cc 3m/1.tar' -"]


def test_only_local_shards_must_exist(tmp_path):
    (tmp_path / "a.tar").touch()
    urls = ["pipe:hdfs dfs -cat /x.tar", "http://127.0.0.1:1/x.tar", "s3://b/x.tar", str(tmp_path / "a.tar")]
    assert len(resolve_shards(urls)) == 4
    with pytest.raises(FileNotFoundError, match=r"1 of 2 shards do not exist, e.g. '.*/nope-\*.tar'"):
        resolve_shards([str(tmp_path / "a.tar"), str(tmp_path / "nope-*.tar")])


def _reader_shards(urls, rank, world_size, count):
    shards = EpochShardList(urls, seed=1)
    shards.rank, shards.world_size = rank, world_size
    return [d["url"] for d in itertools.islice(iter(shards), count)]


def test_the_remainder_of_an_epoch_goes_to_each_rank_in_turn():
    urls = [f"s{i}.tar" for i in range(5)]
    rank0, rank1 = _reader_shards(urls, 0, 2, 5), _reader_shards(urls, 1, 2, 5)
    # The stream of epochs 0 and 1 dealt alternately: epoch 0 is rank 0's first 3 and rank 1's first 2
    # shards, epoch 1 the rest, so over two epochs both ranks read 5 shards.
    assert sorted(rank0[:3] + rank1[:2]) == sorted(urls)
    assert sorted(rank0[3:] + rank1[2:]) == sorted(urls)


def _keys(cfg, num_batches):
    loader = build_image_text_train_loader(cfg)
    return {x["key"] for b in itertools.islice(iter(loader), num_batches) for x in b}


def _cfg(*shards):
    return tiny_cfg("DATASETS.IMAGE_TEXT.SHARDS", list(shards), "SOLVER.IMS_PER_BATCH", 2,
                    "DATASETS.IMAGE_TEXT.SHUFFLE_BUFFER", 1)


def _all_keys(num_shards, per_shard):
    return {f"{s:05d}{i:04d}" for s in range(num_shards) for i in range(per_shard)}


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def http_root(tmp_path):
    """tmp_path served on 127.0.0.1 by a threaded HTTP server; yields its base URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_train_loader_reads_http_and_pipe_shards(tmp_path, http_root):
    write_shards(tmp_path, num_shards=3, per_shard=2)
    cfg = _cfg(f"{http_root}/shard-{{00000..00001}}.tar", f"pipe:cat {tmp_path}/shard-00002.tar")
    assert _keys(cfg, 3) == _all_keys(3, 2)


def test_train_loader_reads_s3_shards_from_a_local_server(tmp_path, monkeypatch):
    pytest.importorskip("moto.server", reason="moto[server] is a test requirement")
    import boto3
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        for key, value in {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                           "AWS_DEFAULT_REGION": "us-east-1"}.items():
            monkeypatch.setenv(key, value)
        # The aws command line of this environment (installed with the test requirements).
        monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket="shards")
        write_shards(tmp_path, num_shards=2, per_shard=2)
        for s in range(2):
            s3.upload_file(str(tmp_path / f"shard-{s:05d}.tar"), "shards", f"cc/shard-{s:05d}.tar")
        assert _keys(_cfg("s3://shards/cc/shard-{00000..00001}.tar"), 2) == _all_keys(2, 2)
    finally:
        server.stop()
