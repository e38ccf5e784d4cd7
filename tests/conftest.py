import functools
import logging

import pytest
import torch
from helpers import SHARED
from streamlit.components.v2 import manifest_scanner

torch.set_num_threads(2)
# Each AppTest run scans every installed package's metadata for Streamlit components (0.4 s here), as a server
# does once at its start; the packages do not change during the tests, so the scan runs once.
manifest_scanner.scan_component_manifests = functools.cache(manifest_scanner.scan_component_manifests)


def pytest_collection_modifyitems(config, items):
    """A browser test that fails is run once more (RERUN in the summary; a second failure fails the run): on a
    loaded machine an input sent while the page redraws is now and then lost, and the test waits for it in vain."""
    if not config.pluginmanager.hasplugin("rerunfailures"):  # turned off: -p no:rerunfailures
        return
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.flaky(reruns=1))


def pytest_configure(config):
    if not SHARED.is_dir():
        raise pytest.UsageError(f"the tests need the shared data folder beside the repository: {SHARED} is missing")


@pytest.fixture(autouse=True)
def page_never_failed(caplog):
    """A page run under AppTest that failed shows a plain error rather than an exception (streamlit_app/app.py
    page_failed), so a test fails on the failure's log record instead; a test that makes the page fail clears it."""
    yield
    failures = [r for r in caplog.get_records("call") if r.name == "gaugan.page" and r.levelno >= logging.ERROR]
    assert not failures, "the page failed:\n" + "\n".join(caplog.text.splitlines()[-20:])
