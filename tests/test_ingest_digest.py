"""A capture's SHA-256 (inputs[].sha256) comes from a read of its own, on a thread beside the
flow table (``ingest.digest``): it must be the file's, a pipe's must still be hashed in line,
and a file that changed meanwhile must be said, not passed off as the bytes judged."""

from __future__ import annotations

import hashlib
import json
import os
from unittest.mock import patch

import pytest
from capture_builders import T0, ether, pcap_bytes, udp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracecheck.flows.pipeline import build_flows
from tracecheck.ingest import digest

@pytest.fixture(autouse=True)
def no_digest_begun_elsewhere():
    digest.forget_started()
    yield
    digest.forget_started()


FRAMES = [(T0 + i * 1000, ether(udp(payload=bytes([i % 251]) * 300))) for i in range(500)]
CHANGED = "the file changed while it was read"


def test_a_regular_file_is_hashed_on_its_own_thread_and_its_digest_waits_until_asked(tmp_path):
    path = tmp_path / "call.pcap"
    path.write_bytes(pcap_bytes(FRAMES))
    result = build_flows([str(path)], hash_files=True)
    assert [type(d).__name__ for d in result.digests] == ["FileDigest"]
    result.hash_captures()
    assert result.captures[0].sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert result.digests == [] and not any(CHANGED in w for w in result.warnings)


def test_a_file_that_is_not_a_regular_file_is_hashed_in_line_as_it_is_read(tmp_path, monkeypatch):
    """A device or the like may not read the same twice: its bytes are hashed as the readers read them."""
    import tracecheck.ingest.capture as capture_module

    data = pcap_bytes(FRAMES) + b"\x07" * 37  # a corrupt tail, hashed too
    path = tmp_path / "device.pcap"
    path.write_bytes(data)
    monkeypatch.setattr(capture_module, "regular_file", lambda stream: None)
    result = build_flows([str(path)], hash_files=True)
    assert [type(d).__name__ for d in result.digests] == ["Hashed"]
    result.hash_captures()
    assert result.captures[0].sha256 == hashlib.sha256(data).hexdigest()
    assert result.accounting.decoded == len(FRAMES)


def test_a_file_written_to_after_it_was_read_is_said_to_have_changed(tmp_path):
    path = tmp_path / "live.pcap"
    path.write_bytes(pcap_bytes(FRAMES))
    result = build_flows([str(path)], hash_files=True)
    result.digests[0]._thread.join()  # hashed whole, then tcpdump writes on
    with open(path, "ab") as more:
        more.write(pcap_bytes(FRAMES[:3])[24:])
    result.hash_captures()
    said = [w for w in result.warnings if CHANGED in w]
    assert len(said) == 1 and "sha256 may not be of the bytes judged" in said[0]
    assert str(path) in said[0] and "bytes when opened" in said[0]


def test_a_file_rewritten_in_place_at_the_same_size_is_said_to_have_changed(tmp_path):
    path = tmp_path / "ring.pcap"
    data = pcap_bytes(FRAMES)
    path.write_bytes(data)
    before = os.stat(path)
    result = build_flows([str(path)], hash_files=True)
    result.digests[0]._thread.join()
    path.write_bytes(data[:-1] + b"\x00")  # same size, new bytes
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
    result.hash_captures()
    assert any(CHANGED in w and "it was written to" in w for w in result.warnings)


def test_a_file_replaced_by_another_is_said_to_have_changed(tmp_path):
    path = tmp_path / "ring.pcap"
    path.write_bytes(pcap_bytes(FRAMES))
    result = build_flows([str(path)], hash_files=True)
    result.digests[0]._thread.join()
    other = tmp_path / "next.pcap"
    other.write_bytes(pcap_bytes(FRAMES))
    os.replace(other, path)  # a ring buffer rotated: same name, another file
    result.hash_captures()
    assert any(CHANGED in w and "replaced by another file" in w for w in result.warnings)


def test_an_unchanged_file_hashed_while_the_flows_are_built_gives_no_warning(tmp_path):
    path = tmp_path / "call.pcap"
    path.write_bytes(pcap_bytes(FRAMES * 20))
    result = build_flows([str(path), str(path)], hash_files=True)  # the same file twice: two digests
    result.hash_captures()
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    assert [c.sha256 for c in result.captures] == [expected, expected]
    assert not any(CHANGED in w for w in result.warnings)


@given(data=st.binary(max_size=3 << 20), skip=st.integers(min_value=0, max_value=4096))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_compiled_and_the_python_hash_agree_from_any_offset(tmp_path, data, skip):
    """``_digest.sha256_fd`` (no GIL) and the pieces loop give hashlib's digest of the rest of
    the file, and its length, across piece boundaries."""
    path = tmp_path / "bytes"
    path.write_bytes(data)
    expected = (hashlib.sha256(data[skip:]).digest(), len(data[skip:]))
    for compiled in ([digest._compiled] if digest._compiled is not None else []) + [None]:
        with open(path, "rb", buffering=0) as stream:
            stream.seek(skip)
            with patch.object(digest, "_compiled", compiled), patch.object(digest, "PIECE", 4096):
                assert digest._sha256_to_end(stream) == expected


def test_the_compiled_hash_says_a_failed_read():
    if digest._compiled is None:
        pytest.skip("the compiled hash is not built")
    with pytest.raises(OSError):
        digest._compiled.sha256_fd(os.open(os.path.dirname(__file__), os.O_RDONLY))  # a directory: EISDIR


def test_a_digest_started_before_the_file_is_opened_is_the_one_used(tmp_path):
    """``tracecheck analyze`` starts hashing before it imports the pipeline: the reader takes that
    digest over rather than hashing the file a second time."""
    path = tmp_path / "call.pcap"
    path.write_bytes(pcap_bytes(FRAMES))
    digest.start([str(path), str(tmp_path / "missing.pcap")])
    [early] = digest._started.values()
    result = build_flows([str(path)], hash_files=True)
    assert result.digests == [early] and not digest._started
    result.hash_captures()
    assert result.captures[0].sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_analyze_records_each_capture_s_sha256(tmp_path, monkeypatch, capsys):
    from call_scenarios import us_transcription_call
    from cli_runner import run

    capture = us_transcription_call().write(tmp_path / "us.pcapng")
    code, _, _ = run(monkeypatch, capsys, "--db", str(tmp_path / "db"), "analyze", str(capture), "--out",
                     str(tmp_path / "r"))
    assert code == 1
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert [i["sha256"] for i in report["inputs"]] == [hashlib.sha256(capture.read_bytes()).hexdigest()]
    assert not digest._started


def test_a_run_refused_before_its_capture_is_read_leaves_no_digest_begun(tmp_path, monkeypatch, capsys):
    from cli_runner import run

    capture = tmp_path / "call.pcap"
    capture.write_bytes(pcap_bytes(FRAMES))
    code, _, err = run(monkeypatch, capsys, "--db", str(tmp_path / "db"), "analyze", str(capture), "--policy",
                       str(tmp_path / "no-such-policy.yaml"), "--out", str(tmp_path / "r"))
    assert code == 2 and "no-such-policy.yaml" in err
    assert not digest._started


@pytest.mark.parametrize("compiled", ["compiled", "python"])
def test_hashing_waits_while_held_and_a_digest_asked_for_lets_it_go_on(tmp_path, compiled):
    """``digest.held`` (the flow stage's span): a hash does not start or go on while held, and
    asking for the digest releases it rather than waiting forever."""
    if compiled == "compiled" and digest._compiled is None:
        pytest.skip("the compiled hash is not built")
    path = tmp_path / "call.pcap"
    path.write_bytes(pcap_bytes(FRAMES))
    with patch.object(digest, "_compiled", digest._compiled if compiled == "compiled" else None):
        with digest.held():
            waiting = digest.FileDigest(str(path), os.stat(path))
            waiting._thread.join(timeout=0.3)
            assert waiting._thread.is_alive()  # held before its first piece
        waiting._thread.join(timeout=30)
        assert not waiting._thread.is_alive()
        assert waiting.hexdigest() == hashlib.sha256(path.read_bytes()).hexdigest()
        with digest.held():
            asked = digest.FileDigest(str(path), os.stat(path))
            assert asked.hexdigest() == hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest._left_for_later == -1


@pytest.mark.parametrize("compiled", ["compiled", "python"])
def test_while_held_a_hash_goes_on_as_long_as_more_than_the_bytes_left_for_later_remain(tmp_path, compiled):
    if compiled == "compiled" and digest._compiled is None:
        pytest.skip("the compiled hash is not built")
    path = tmp_path / "big.pcap"
    path.write_bytes(pcap_bytes(FRAMES * 20))  # about 3.3 MB: several pieces
    size = path.stat().st_size
    with patch.object(digest, "_compiled", digest._compiled if compiled == "compiled" else None), \
            patch.object(digest, "PIECE", 1 << 20):
        with patch.object(digest, "LEFT_FOR_LATER", 0), digest.held():
            done = digest.FileDigest(str(path), os.stat(path))
            done._thread.join(timeout=30)
            assert not done._thread.is_alive()  # nothing may be left for later: hashed while held
        with patch.object(digest, "LEFT_FOR_LATER", size), digest.held():
            waiting = digest.FileDigest(str(path), os.stat(path))
            waiting._thread.join(timeout=0.3)
            assert waiting._thread.is_alive()  # all of it may be: it waits
        assert waiting.hexdigest() == done.hexdigest() == hashlib.sha256(path.read_bytes()).hexdigest()
