"""Payload parsing from text (a QR code decoded elsewhere) and from an Android admin extras
bundle, hostile input included. Pure functions: no server needed. The same cases as the Kotlin
PayloadJvmTest and bindings/tests/ffi.rs."""

import pytest

import enroll_ffi as ffi

SECRET = "SECRETTOKEN1234567890"


def assert_invalid(call, *args, **kwargs):
    with pytest.raises(ffi.EnrollError.InvalidInput) as info:
        call(*args, **kwargs)
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    return info.value


def test_decoded_text_parses_into_the_scanner_intents():
    p = ffi.parse_enrollment_payload(f"https://mdm.example.com/go?token={SECRET}&user=a%40b.c&tenant=t1\n")
    assert SECRET not in str(p) and SECRET not in repr(p)
    assert p.server_url == "https://mdm.example.com"
    assert p.credential.kind() == "token"
    assert p.intent.is_INVITATION()
    assert p.intent.tenant == "t1" and p.intent.user_hint == "a@b.c"

    android = (
        '{"android.app.extra.PROVISIONING_DEVICE_ADMIN_COMPONENT_NAME": "com.example.dpc/.AdminReceiver",'
        ' "android.app.extra.PROVISIONING_WIFI_SSID": "Corp", "android.app.extra.PROVISIONING_WIFI_PASSWORD": "WIFISECRET",'
        ' "android.app.extra.PROVISIONING_ADMIN_EXTRAS_BUNDLE": {"enroll.SERVER_URL": "https://mdm.example.com",'
        f' "enroll.ENROLLMENT_TOKEN": "{SECRET}"}}}}'
    )
    a = ffi.parse_enrollment_payload(android)
    assert "WIFISECRET" not in str(a) and SECRET not in str(a)
    assert a.intent.is_ANDROID_PROVISIONING()
    assert a.intent.admin_package == "com.example.dpc"
    assert a.intent.wifi.password.expose() == "WIFISECRET"
    assert a.credential.kind() == "token"

    bare = ffi.parse_enrollment_payload("ent_ABCDEFGHIJKLMNOPQRSTUVWXYZ012345")
    assert bare.intent.is_TOKEN() and bare.server_url is None
    local = f"http://127.0.0.1:8080/go?token={SECRET}"
    assert_invalid(ffi.parse_enrollment_payload, local)
    assert ffi.parse_enrollment_payload(local, allow_insecure_loopback_http=True).server_url == "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello world",
        "https://mdm.example.com/go?token=" + "A" * 5000,
        f"http://mdm.example.com/go?token={SECRET}",
        f"https://user:{SECRET}@mdm.example.com/go",
        f"https://mdm.example.com/go?token={SECRET}\x07",
        f"{SECRET}\x00",
        '{"enroll.SERVER_URL": 42}',
        '{"enroll.SERVER_URL": "https://mdm.example.com", "enroll.ENROLLMENT_TOKEN": 12345678901234567}',
        '{"android.app.extra.PROVISIONING_ADMIN_EXTRAS_BUNDLE": "not a bundle"}',
    ],
)
def test_hostile_text_is_invalid_input_without_secrets(text):
    assert_invalid(ffi.parse_enrollment_payload, text)


def test_admin_extras_bundle_gives_a_credential():
    p = ffi.parse_admin_extras(
        {"enroll.SERVER_URL": "https://mdm.example.com", "enroll.ENROLLMENT_TOKEN": SECRET, "enroll.attr.site": "Lyon"}
    )
    assert SECRET not in str(p) and SECRET not in repr(p)
    assert p.server_url == "https://mdm.example.com"
    assert p.credential.kind() == "token"
    assert p.intent.is_KME_EXTRAS()
    assert p.intent.attributes == {"site": "Lyon"}
    tokenless = ffi.parse_admin_extras({"com.example.mdm.SERVER_URL": "https://mdm.example.com", "enroll.PROFILE_ID": "bulk-1"})
    assert tokenless.credential.kind() == "tokenless"
    assert tokenless.intent.profile_id == "bulk-1"


URL = ("enroll.SERVER_URL", "https://mdm.example.com")


@pytest.mark.parametrize(
    "extras",
    [
        {},
        {f"k{i}": "v" for i in range(300)},
        {"enroll.attr.site": "Lyon"},
        {"enroll.SERVER_URL": "http://mdm.example.com", "enroll.TOKEN": SECRET},
        {"enroll.SERVER_URL": "http://localhost:8080", "enroll.TOKEN": SECRET},
        {"enroll.SERVER_URL": f"https://u:{SECRET}@mdm.example.com"},
        dict([URL, ("enroll.ENROLLMENT_TOKEN", SECRET + "\n")]),
        dict([URL, ("enroll.ENROLLMENT_TOKEN", "A" * 5000)]),
        dict([URL, ("x.TOKEN", SECRET), ("y.ENROLLMENT_TOKEN", SECRET)]),
        dict([URL, ("enroll.attr.bad\x1bkey", "v")]),
        dict([URL, ("android.app.extra.PROVISIONING_WIFI_PASSWORD", SECRET)]),
    ],
)
def test_hostile_admin_extras_are_invalid_input_without_secrets(extras):
    assert_invalid(ffi.parse_admin_extras, extras)


def test_wrong_value_types_are_refused_by_the_bindings():
    # The map is string to string: other Python types do not cross the boundary.
    for extras in ({"enroll.SERVER_URL": 42}, {"enroll.TOKEN": None}, {"enroll.TOKEN": b"bytes"}):
        with pytest.raises((TypeError, ValueError)):
            ffi.parse_admin_extras(extras)
    with pytest.raises((TypeError, ValueError)):
        ffi.parse_enrollment_payload(b"https://mdm.example.com/go")


def test_loopback_http_only_when_allowed():
    extras = {"enroll.SERVER_URL": "http://localhost:8080", "enroll.TOKEN": SECRET}
    assert ffi.parse_admin_extras(extras, allow_insecure_loopback_http=True).server_url == "http://localhost:8080"
