"""Python bindings of enroll-ffi against the reference server (TLS on loopback).

Run by bindings/tests/run-python.sh, which generates the `enroll_ffi` module into
target/bindings/python, starts the server and exports ENROLL_TEST_* (see bindings/tests/common.sh).
The same scenario as the Kotlin JVM test: token and PIN enrollments to active, a typed error,
states seen by an observer, and a Python SecureStore called from Rust.
"""

import asyncio
import os
import re
import threading
import time

import pytest

import enroll_ffi as ffi


def env(name):
    value = os.environ.get(name)
    if value is None:
        pytest.fail(f"{name} is not set (run bindings/tests/run-python.sh)")
    return value


LOGS = []


@pytest.fixture(scope="session", autouse=True)
def library():
    class Sink(ffi.LogSink):
        def log(self, record):
            LOGS.append(record)

    ffi.init_platform(ffi.PlatformConfig(log_level=ffi.LogLevel.INFO, system_log=False, log_sink=Sink()))
    yield


class MemoryStore(ffi.SecureStore):
    """A Python SecureStore over a dict: the library calls it from Rust threads."""

    def __init__(self):
        self.map = {}
        self.calls = 0
        self.fail_with = None
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            self.calls += 1
            return self.map.get(key)

    def set(self, key, value):
        with self.lock:
            self.calls += 1
            if self.fail_with is not None:
                raise self.fail_with
            self.map[key] = value

    def delete(self, key):
        with self.lock:
            self.calls += 1
            self.map.pop(key, None)


class RecordingInstaller(ffi.ProfileInstaller):
    def __init__(self):
        self.installed = []
        self.threads = set()

    def install(self, profile):
        self.threads.add(threading.current_thread().name)
        self.installed.append(profile)
        return ffi.InstallOutcome.INSTALLED

    def is_installed(self, uuid):
        return any(p.uuid == uuid for p in self.installed)

    def remove(self, identifier):
        self.installed = [p for p in self.installed if p.identifier != identifier]


class FixedDevice(ffi.DeviceInfo):
    def __init__(self, ident):
        self.ident = ident

    def describe(self):
        return ffi.DeviceDescriptor(
            platform=ffi.DevicePlatform.ANDROID,
            os_version="14",
            model="Pixel 8",
            manufacturer="Google",
            serial=f"SER-{self.ident}",
            imeis=[],
            hardware_id=self.ident,
            agent_version="python-test",
        )


class Recorder(ffi.EnrollmentObserver):
    def __init__(self):
        self.states = []

    def on_state(self, state):
        self.states.append(state)


def config():
    with open(env("ENROLL_TEST_CA"), "rb") as f:
        ca = f.read()
    return ffi.ClientConfig(ca_certificates=[ca])


def new_client(name, store=None, installer=None):
    return ffi.EnrollClient(
        config(),
        store or MemoryStore(),
        installer or RecordingInstaller(),
        FixedDevice(f"py-{name}-{time.monotonic_ns()}"),
        None,
    )


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_token_enrollment_through_python_store_and_observer():
    store, installer = MemoryStore(), RecordingInstaller()
    client = new_client("token", store, installer)
    recorder = Recorder()
    handle = client.observe(recorder)
    assert wait_until(lambda: recorder.states), "the observer gets the current state first"
    assert recorder.states[0].is_IDLE()

    state = asyncio.run(client.enroll(env("ENROLL_TEST_SERVER"), ffi.Credential.token(env("ENROLL_TEST_TOKEN"))))
    assert state.is_ACTIVE(), state
    assert client.status() == state
    assert wait_until(lambda: any(s.is_ACTIVE() for s in recorder.states))
    assert any(s.is_DISCOVERED() for s in recorder.states), recorder.states
    handle.cancel()
    assert wait_until(handle.is_finished)

    # Rust persisted through the Python store and installed through the Python installer.
    assert "enroll.state.v1" in store.map
    assert store.calls >= 5
    assert len(installer.installed) == 1
    assert threading.main_thread().name not in installer.threads

    checkin = asyncio.run(client.checkin({"battery": "80"}))
    assert checkin.device_state == ffi.DeviceState.ACTIVE
    assert checkin.applied is None

    with pytest.raises(ffi.EnrollError.NotAllowedNow):
        asyncio.run(client.enroll(env("ENROLL_TEST_SERVER"), ffi.Credential.token(env("ENROLL_TEST_TOKEN"))))
    asyncio.run(client.forget())
    assert client.status().is_IDLE()
    assert "enroll.state.v1" not in store.map


def test_pin_enrollment_reaches_active():
    user = env("ENROLL_TEST_PIN_USER")
    client = new_client("pin")
    state = asyncio.run(client.enroll(env("ENROLL_TEST_PIN_URL"), ffi.Credential.pin(user, env("ENROLL_TEST_PIN"))))
    assert state.is_ACTIVE(), state
    assert state.user == user
    assert ffi.enrollment_state_is_settled(state)


def test_wrong_pin_is_a_typed_error_with_attempts_left():
    real = env("ENROLL_TEST_WRONG_PIN_REAL")
    wrong = "111111" if real == "000000" else "000000"
    client = new_client("wrong-pin")
    with pytest.raises(ffi.EnrollError.WrongCredentials) as info:
        asyncio.run(client.enroll(env("ENROLL_TEST_WRONG_PIN_URL"), ffi.Credential.pin(env("ENROLL_TEST_WRONG_PIN_USER"), wrong)))
    assert info.value.attempts_left == 4
    assert wrong not in str(info.value)
    assert client.status().is_FAILED()


def test_invalid_input_never_quotes_the_secret():
    with pytest.raises(ffi.EnrollError.InvalidInput) as info:
        ffi.Credential.pin("user@example.com", "12x4")
    assert "12x4" not in str(info.value)
    token = ffi.Credential.token("ent_SECRET_TOKEN_VALUE")
    assert "SECRET" not in repr(token) and "SECRET" not in str(token)
    assert token.kind() == "token"


def test_store_failures_map_to_platform_errors():
    store = MemoryStore()
    client = new_client("locked", store)
    store.fail_with = ffi.PlatformError.Denied("keystore locked")
    with pytest.raises(ffi.EnrollError.Platform) as denied:
        asyncio.run(client.enroll(env("ENROLL_TEST_SERVER"), ffi.Credential.token("ent_any_token_1234")))
    assert denied.value.kind == ffi.PlatformErrorKind.DENIED
    store.fail_with = OSError("disk full")
    with pytest.raises(ffi.EnrollError.Platform) as other:
        asyncio.run(client.enroll(env("ENROLL_TEST_SERVER"), ffi.Credential.token("ent_any_token_1234")))
    assert other.value.kind == ffi.PlatformErrorKind.OTHER
    assert client.status().is_IDLE()


def test_logs_reach_the_python_sink_without_secrets():
    assert any("enroll-ffi initialised" in r.message for r in LOGS)
    secrets = (env("ENROLL_TEST_TOKEN"), env("ENROLL_TEST_PIN"))
    assert not any(s in r.message for r in LOGS for s in secrets)
    with pytest.raises(ffi.EnrollError.NotAllowedNow):
        ffi.init_platform(ffi.PlatformConfig())


def test_scanning_camera_frames():
    blank = bytes([255]) * (64 * 48)
    assert ffi.scan_frame(blank, 64, 48, 64) == []
    with pytest.raises(ffi.EnrollError.InvalidInput):
        ffi.scan_frame(blank, 64, 48, 32)
    session = ffi.QrScanSession(False)
    assert session.feed(blank, 64, 48, 64) is None
    assert session.frames_scanned() == 1

    qr_dir = os.environ.get("ENROLL_TEST_QR_DIR")
    if qr_dir is None:
        pytest.skip("the shared QR corpus is not beside the repository")
    from PIL import Image

    image = Image.open(os.path.join(qr_dir, "enroll-0034.jpg")).convert("L")
    result = session.feed(image.tobytes(), image.width, image.height, image.width)
    assert result is not None
    assert result.intent.is_INVITATION()
    assert result.intent.tenant == "globex-6746"
    assert result.credential.kind() == "token"
    assert result.server_url == result.intent.server_url
    assert "1Ds7bXri7YZa" not in repr(result.credential) and "1Ds7bXri7YZa" not in str(result)
    assert session.is_finished()


def test_a_dpc_enrolls_from_its_admin_extras_and_the_profile_text_hides_the_challenge():
    payload = ffi.parse_admin_extras(
        {"enroll.SERVER_URL": env("ENROLL_TEST_SERVER"), "enroll.ENROLLMENT_TOKEN": env("ENROLL_TEST_DPC_TOKEN")}
    )
    installer = RecordingInstaller()
    client = new_client("dpc", installer=installer)
    state = asyncio.run(client.enroll(payload.server_url, payload.credential))
    assert state.is_ACTIVE(), state

    (profile,) = installer.installed
    data = profile.signed_profile.bytes()
    assert profile.signed_profile.size() == len(data)
    match = re.search(rb"<key>Challenge</key>\s*<string>([^<]+)</string>", data)
    assert match, "the profile has no SCEP challenge"
    challenge = match.group(1).decode()
    for text in (str(profile), str(profile.signed_profile), repr(profile.signed_profile)):
        assert challenge not in text, text
        assert f"{len(data)} bytes" in text, text
    assert challenge not in repr(profile)
