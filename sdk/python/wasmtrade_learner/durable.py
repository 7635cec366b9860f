"""Durable files: atomic replacement and the transitions log reader.

Atomic writes follow `runtime/models/src/atomic.rs`: write `.<name>.tmp` in
the same directory, fsync it, rename it over the target, fsync the
directory. A reader (the runtime listing checkpoints, a restarted learner)
sees the old file or the new one, never a mix, even after kill -9 or a power
cut.

The transitions log (`runtime/models/src/transitions.rs`) is a sequence of
records `len: u32 LE | crc32(payload): u32 LE | payload`, the payload one
JSON `Transition`. The writer fsyncs every append and drops a torn tail when
it reopens the log, so only the last record can be incomplete: `read_log`
stops before it (it is consumed once complete). A bad record followed by
more data is corruption and raises `LogCorrupt` with its offset.
"""

import json
import os
import struct
import zlib

HEADER = 8
MAX_RECORD = 64 << 20


def fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path, data):
    """Replaces `path` with `data` (bytes or str) atomically and durably."""
    path = os.fspath(path)
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    tmp = os.path.join(directory, "." + os.path.basename(path) + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(directory)


class LogCorrupt(Exception):
    """A record in the middle of the log is damaged (not a torn tail)."""

    def __init__(self, path, offset, reason):
        super().__init__(f"{path}: corrupt transitions log at byte {offset}: {reason}")
        self.path = path
        self.offset = offset
        self.reason = reason


def read_log(path, offset=0, limit=None):
    """The complete records of the log from byte `offset`, at most `limit` of them.

    Returns (records, ends): each record the decoded JSON transition, `ends[i]`
    the byte offset just after record i (where reading resumes). A missing
    file is an empty log. Stops before a torn or incomplete last record.
    Reads record by record (buffered), so memory stays bounded by `limit`.
    """
    path = os.fspath(path)
    records, ends = [], []
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        if offset:
            raise LogCorrupt(path, offset, "the log is gone but the saved offset is past its start") from None
        return records, ends
    with f:
        size = os.fstat(f.fileno()).st_size
        if size < offset:
            raise LogCorrupt(path, offset, f"the log has {size} bytes, fewer than the saved offset")
        f.seek(offset)
        pos = offset
        while pos < size and (limit is None or len(records) < limit):
            if size - pos < HEADER:
                break  # torn header: not yet complete
            n, crc = struct.unpack("<II", f.read(HEADER))
            if n > MAX_RECORD:
                raise LogCorrupt(path, pos, f"record length {n} is implausible")
            end = pos + HEADER + n
            if end > size:
                break  # torn payload: not yet complete
            payload = f.read(n)
            if len(payload) < n:
                break  # the file shrank under us: read again next time
            if zlib.crc32(payload) != crc:
                if end == size:
                    break  # a torn last record (the writer drops it when it reopens the log)
                raise LogCorrupt(path, pos, "checksum mismatch")
            try:
                records.append(json.loads(payload))
            except ValueError as e:
                raise LogCorrupt(path, pos, f"bad record: {e}") from None
            pos = end
            ends.append(pos)
    return records, ends


def encode_record(transition):
    """One log record for a transition (dict), as the runtime writes it."""
    payload = json.dumps(transition, separators=(",", ":")).encode()
    return struct.pack("<II", len(payload), zlib.crc32(payload)) + payload
