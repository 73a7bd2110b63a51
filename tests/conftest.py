"""Shared test fixtures. Every test runs with the network blocked (loopback stays open for
Jupyter kernels and the local web server of the browser test), so a loader that tried to
download anything would fail here."""

import ipaddress
import socket

import pytest

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
#: Every address a test tried to reach off this machine.
BLOCKED_ATTEMPTS = []


def _is_local(address) -> bool:
    if isinstance(address, (str, bytes)):  # a Unix socket path
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: resolving it would already be a network request


def _guarded(real):
    def connect(sock, address):
        if not _is_local(address):
            BLOCKED_ATTEMPTS.append(address)
            raise ConnectionRefusedError(f"network blocked in tests: tried to reach {address}")
        return real(sock, address)

    return connect


def pytest_configure(config):
    socket.socket.connect = _guarded(_real_connect)
    socket.socket.connect_ex = _guarded(_real_connect_ex)


def pytest_unconfigure(config):
    socket.socket.connect = _real_connect
    socket.socket.connect_ex = _real_connect_ex


@pytest.fixture
def network_attempts():
    """The list of off-machine connection attempts; empty at the start of the test."""
    BLOCKED_ATTEMPTS.clear()
    return BLOCKED_ATTEMPTS


@pytest.fixture(scope="session")
def glove():
    from embedlab import data

    return data.load_glove()


@pytest.fixture(scope="session")
def glove_small():
    from embedlab import data

    return data.load_glove(max_words=20_000)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
