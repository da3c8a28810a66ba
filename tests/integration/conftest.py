import pytest

from tests.integration.probe_service import Base, ProbeService


@pytest.fixture
def probe(container_factory, amqp_uri, scratch_db, request):
    """Start the probe service; ``probe(max_workers=1, OUTBOX_RELAY=False)`` to vary it."""
    url = scratch_db(f"probe_{request.node.name[:20].lower()}", Base.metadata)

    def start(**config):
        container = container_factory(ProbeService, {
            "AMQP_URI": amqp_uri, "DATABASE_URL": url, "serializer": "json",
            "max_workers": config.pop("max_workers", 10), **config})
        container.start()
        return container

    start.url = url
    return start
