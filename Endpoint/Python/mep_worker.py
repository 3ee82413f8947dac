# The Python side of a MEP worker's task slot, run as `python3 -c <this file>` by the worker (Mep.Endpoint.Python).
#
# Protocol: one JSON request per line on the original stdin, one JSON response per line on the original stdout.
# Both are moved to private, non-inheritable descriptors before any user code runs, so nothing the function (or a
# program it starts) writes can break the protocol: during a call, fds 1 and 2 point at files the worker names in
# the request and reads back itself; between calls they point at this process's stderr (the worker's log).
#
# Request:  {"source", "entry", "args", "kwargs", "stdout", "stderr", "result_limit"}
# Response: {"ok": true, "out", "err", "value": <json>}
#         | {"ok": false, "out", "err", "type", "message", "traceback"}   the function (or its source) raised
#         | {"ok": false, "out", "err", "error"}   the call could not be made or its value not sent back
#           "out" and "err": bytes in the output files when the call returned (the worker reads only non-empty ones).
# First line out: {"ready": true, "version", "executable"}.
#
# The output files stay open from one call to the next while they are empty (most calls print nothing): a file
# created and removed per call was a quarter of this process's CPU for a no-op. A file that holds anything (this
# call's output, or a straggler's: a program a function left running still writes to it), or that the worker
# removed, is replaced by a new one before the next call, so no call's output shows in another's.

import builtins
import json
import linecache
import os
import signal
import sys
import threading
import time
import traceback
import zlib

NAMESPACE = "__mep__"  # __name__ of the namespace a function's source runs in (never "__main__": no main guard runs)
OWN_FILE = "<string>"  # what -c names this code in tracebacks; its frames are cut from the user's traceback
_compiled = {}


def _watch_parent(ppid):
    # The worker SIGKILLed: kill the function it was running too (the task goes back to the queue and runs again
    # elsewhere), instead of leaving it to run on unobserved.
    while True:
        time.sleep(1.0)
        if os.getppid() != ppid:
            if os.getpgrp() == os.getpid():
                os.killpg(0, signal.SIGKILL)
            os.kill(os.getpid(), signal.SIGKILL)


def _type_name(t):
    module = getattr(t, "__module__", None)
    name = getattr(t, "__qualname__", None) or getattr(t, "__name__", "?")
    # Named as Python's own traceback names them: builtins and the function's own classes without a module.
    if not module or module in ("builtins", "__main__", NAMESPACE):
        return name
    return module + "." + name


def _compile(source):
    code = _compiled.get(source)
    if code is None:
        # Named by a checksum of the source (zlib, not hashlib: hashlib loads OpenSSL, ~3 ms of every slot's start and
        # of a cold endpoint's first task), made unique in this process should two sources ever share one.
        checksum = zlib.crc32(source.encode("utf-8"))
        lines = source.splitlines(True)
        filename = "<mep function %08x>" % checksum
        n = 1
        while filename in linecache.cache and linecache.cache[filename][2] != lines:
            n += 1
            filename = "<mep function %08x-%d>" % (checksum, n)
        # Lets tracebacks quote the function's lines; an entry without mtime is never evicted by checkcache.
        linecache.cache[filename] = (len(source), None, lines, filename)
        code = compile(source, filename, "exec")
        _compiled[source] = code
    return code


def _exception(e):
    tb = e.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == OWN_FILE:
        tb = tb.tb_next
    try:
        message = str(e)
    except BaseException:  # a broken __str__ must not take the driver down
        message = "<str() of the exception failed>"
    try:
        text = "".join(traceback.format_exception(type(e), e, tb))
    except BaseException:
        text = ""
    return {"ok": False, "type": _type_name(type(e)), "message": message, "traceback": text}


def _call(request):
    source = request["source"]
    entry = request["entry"]
    limit = request["result_limit"]
    try:
        code = _compile(source)
        namespace = {"__name__": NAMESPACE, "__builtins__": builtins}
        exec(code, namespace)
        function = namespace.get(entry)
        if not callable(function):
            return {"ok": False, "error": "the function's source defines no callable named '%s'" % entry}
        value = function(*request["args"], **request["kwargs"])
    except BaseException as e:  # SystemExit and KeyboardInterrupt from the function are its failures too
        return _exception(e)
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as e:
        return {"ok": False, "error": "the return value is not JSON-serialisable: %s" % e}
    size = len(text.encode("utf-8"))
    if size > limit:
        return {"ok": False, "error": "result of %d bytes exceeds the endpoint's limit of %d bytes" % (size, limit)}
    return text  # already JSON: spliced into the response as is


class _Output:
    def __init__(self):
        self.path = None
        self.fd = None

    def ready(self, path):
        # The open file serves the next call only if it is still the (empty) file the worker names.
        if self.fd is not None and path == self.path:
            st = os.fstat(self.fd)
            if st.st_size == 0 and st.st_nlink > 0:
                return self.fd
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        try:
            os.unlink(path)  # a new file, not this one truncated: whatever still writes to the old one stays there
        except FileNotFoundError:
            pass
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.path = path
        return self.fd

    def size(self):
        return os.fstat(self.fd).st_size


def _flush():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass


def main():
    requests = os.fdopen(os.dup(0), "rb")
    responses = os.fdopen(os.dup(1), "wb")
    log = os.dup(2)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(log, 1)
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()

    def send(text):
        responses.write(text.encode("utf-8") + b"\n")
        responses.flush()

    send(json.dumps({"ready": True, "version": sys.version.split()[0], "executable": sys.executable}))
    out = _Output()
    err = _Output()
    for line in requests:
        request = json.loads(line)
        _flush()
        os.dup2(out.ready(request["stdout"]), 1)
        os.dup2(err.ready(request["stderr"]), 2)
        try:
            result = _call(request)
        finally:
            _flush()
            os.dup2(log, 1)
            os.dup2(log, 2)
        sizes = '"out":%d,"err":%d' % (out.size(), err.size())
        if isinstance(result, str):
            send('{"ok":true,' + sizes + ',"value":' + result + "}")
        else:
            send(json.dumps(result)[:-1] + "," + sizes + "}")


main()
