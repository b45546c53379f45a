"""tests/server run twice: on one process (sans-IO, as written), and on a 3-node cluster
through a real redis-server, where each Scripted client is a socket client of a node in turn
(tests/cluster_harness.py). Tests that travel in time or look at one process's internals are
marked `single_process` and run once."""

from __future__ import annotations

import ircclient
import pytest


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "backend" in getattr(item, "fixturenames", ()) and item.get_closest_marker(
            "single_process"
        ):
            callspec = getattr(item, "callspec", None)
            if callspec is not None and callspec.params.get("backend") == "cluster":
                item.add_marker(pytest.mark.skip(reason="single-process test"))


@pytest.fixture(params=["single", "cluster"], autouse=True)
def backend(request):
    if request.param == "single":
        yield "single"
        return
    from cluster_harness import ClusterWorld, RunningCluster

    redis = request.getfixturevalue("redis_server")
    redis.flush()
    clusters: list[RunningCluster] = []

    def world(**settings):
        cluster = RunningCluster(redis, 3, url=redis.fresh_url(), **settings)
        clusters.append(cluster)
        return ClusterWorld(cluster)

    ircclient.BACKEND, ircclient.WORLD_FACTORY = "cluster", world
    try:
        yield "cluster"
    finally:
        ircclient.BACKEND, ircclient.WORLD_FACTORY = "single", None
        for cluster in clusters:
            cluster.stop()


@pytest.fixture
def server_factory(backend, request):
    """The socket tests' server: one process, or a 3-node cluster whose `client()` spreads
    clients across the nodes."""
    started = []

    def make(**settings):
        if backend == "cluster":
            from cluster_harness import RunningCluster

            srv = RunningCluster(request.getfixturevalue("redis_server"), 3, **settings)
        else:
            srv = ircclient.start_server(**settings)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture
def server(server_factory):
    return server_factory(flood_limit=False)
