"""Runs a command on a pseudo-terminal 120 columns wide, narrows it to 50 columns after
RESIZE_AFTER seconds, and writes everything the command drew to stdout, with one line
'\\n=== RESIZED ===\\n' inserted where the resize happened. Used by cli/tests/progress_fits.rs."""
import fcntl
import os
import pty
import select
import struct
import sys
import termios
import time

RESIZE_AFTER = float(os.environ.get("RESIZE_AFTER", "2.0"))


def set_size(fd, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))


pid, fd = pty.fork()
if pid == 0:
    os.environ["TERM"] = "xterm"
    os.execv(sys.argv[1], sys.argv[1:])
set_size(fd, 120)
out = bytearray()
start = time.monotonic()
resized = False
while True:
    if not resized and time.monotonic() - start > RESIZE_AFTER:
        set_size(fd, 50)
        out += b"\n=== RESIZED ===\n"
        resized = True
    ready, _, _ = select.select([fd], [], [], 0.05)
    if ready:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        out += data
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(bytes(out))
sys.exit(os.waitstatus_to_exitcode(status))
