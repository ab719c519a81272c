"""The engine's push under registry faults (issue 14): what dockerd reports when the registry answers 429
TOOMANYREQUESTS or 5xx, or drops the connection, during the blob upload start, a blob PATCH or the manifest
PUT, must come out as a transient typed error (RegistryError with its status, or RegistryUnreachable) so the
caller's retry policy retries it. Real dockerd and registry, with the fault proxy between them.
"""

from __future__ import annotations

import io
import uuid

import pytest

from image_release.adapters.engine import Engine
from image_release.adapters.engine.messages import push_error
from image_release.core.build_spec import BuildSpec
from image_release.errors import AuthError, EngineError, RegistryError, RegistryUnreachable
from tests.fakes.fault_proxy import FaultProxy
from tests.test_engine import sdk, write

ENGINE = "docker/"  # dockerd, as the proxy sees it
UPLOAD = r"/blobs/uploads/$"
PATCH = r"/blobs/uploads/[^/?]+\?"
MANIFEST = r"/manifests/1\.0\.0$"


@pytest.fixture
def proxied(services, tmp_path):
    """(engine, proxy, ref): a fresh one-layer image tagged for the registry behind the proxy."""
    with FaultProxy(services.registry) as proxy:
        ctx = write(tmp_path / "ctx", {"Dockerfile": "FROM scratch\nCOPY a /a\n", "a": uuid.uuid4().hex})
        ref = f"{proxy.address}/t/{uuid.uuid4().hex[:10]}:1.0.0"
        eng = Engine(docker_host=services.docker_host, out=io.StringIO(), progress="plain")
        eng.build(BuildSpec(context=str(ctx), tags=(ref,), buildkit="off"))
        yield eng, proxy, ref
        sdk(services).api.remove_image(ref, force=True)


@pytest.mark.services
@pytest.mark.parametrize("method,path,fault,kind,status", [
    ("POST", UPLOAD, 429, RegistryError, 429),
    ("PATCH", PATCH, 429, RegistryError, 429),
    ("PUT", MANIFEST, 429, RegistryError, 429),
    ("PUT", MANIFEST, 503, RegistryError, 503),
    ("PUT", MANIFEST, "reset", RegistryUnreachable, None),
    ("PUT", MANIFEST, "drop", RegistryUnreachable, None),  # dockerd says 'Put "...": EOF'
], ids=["429-upload-start", "429-patch", "429-manifest", "503-manifest", "reset-manifest", "eof-manifest"])
def test_a_transient_fault_during_the_engine_push_is_a_transient_typed_error(proxied, method, path, fault,
                                                                             kind, status):
    eng, proxy, ref = proxied
    if fault == "reset":
        rule = proxy.reset(method, path, agent=ENGINE, times=None)
    elif fault == "drop":
        rule = proxy.delay(method, path, 0.1, agent=ENGINE, times=None)
    else:
        rule = proxy.status(method, path, fault, agent=ENGINE, times=None)
    with pytest.raises(RegistryError) as err:
        eng.push(ref)
    assert rule.hits >= 1
    assert type(err.value) is kind and err.value.status == status
    assert ref in err.value.message and err.value.hint
    proxy.clear()  # the fault is gone: the same push now succeeds (what the caller's retry does)
    assert eng.push(ref).startswith("sha256:")


@pytest.mark.parametrize("message,kind,status", [
    # Docker Hub's rate limit, quoted by dockerd without the number
    ("toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating "
     "and upgrading: https://www.docker.com/increase-rate-limit", RegistryError, 429),
    ('error parsing HTTP 429 response body: unexpected end of JSON input: ""', RegistryError, 429),
    ("received unexpected HTTP status: 502 Bad Gateway", RegistryError, 502),
    ("unavailable: the registry is in read-only mode", RegistryError, 503),
    ('Put "https://ghcr.io/v2/acme/app/manifests/1.2.3": EOF', RegistryUnreachable, None),
    ('Patch "https://reg.example:443/v2/a/blobs/uploads/x": write tcp 10.0.0.2:5544->10.0.0.3:443: write: '
     'broken pipe', RegistryUnreachable, None),
    ('Get "https://reg.example:443/v2/": dial tcp 10.0.0.3:443: connect: connection refused',
     RegistryUnreachable, None),
    ("denied: requested access to the resource is denied", AuthError, None),
    ("An image does not exist locally with the tag: 127.0.0.1:5000/t/x", EngineError, None),
    ("manifest invalid: manifest invalid", RegistryError, None),
])
def test_push_error_classification(message, kind, status):
    err = push_error("reg.example/a:1", message)
    assert type(err) is kind and err.hint
    if isinstance(err, RegistryError) and not isinstance(err, RegistryUnreachable):
        assert err.status == status
