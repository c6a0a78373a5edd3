"""files.file_kind: what the store and the settings call a path that is not the file they want."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from grokdash.files import file_kind


def test_a_regular_file_and_a_folder_are_named(tmp_path: Path):
    (tmp_path / "f").write_text("x")
    assert file_kind(os.stat(tmp_path / "f").st_mode) == "a regular file"
    assert file_kind(os.stat(tmp_path).st_mode) == "a folder"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_is_named(tmp_path: Path):
    os.mkfifo(tmp_path / "p")
    assert file_kind(os.stat(tmp_path / "p").st_mode) == "a FIFO"


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix sockets on this platform")
def test_a_socket_is_named(tmp_path: Path):
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "s"))
        assert file_kind(os.stat(tmp_path / "s").st_mode) == "a socket"


def test_devices_and_links_are_named(tmp_path: Path):
    assert file_kind(stat.S_IFCHR | 0o666) == "a device"
    assert file_kind(stat.S_IFBLK | 0o660) == "a device"
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    assert file_kind(os.lstat(tmp_path / "link").st_mode) == "a symlink"
    assert file_kind(0) == "a special file"
