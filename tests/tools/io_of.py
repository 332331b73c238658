#!/usr/bin/env python3
"""Runs a command and prints what the kernel counted of its I/O, children
included: /proc/PID/io read while the process is a zombie (exited, not yet
reaped), where the counts are final.

  io_of.py OUT CMD [ARG...]

Writes "rchar wchar" (bytes passed by read/pread and write/pwrite system
calls and the like) to OUT; exits with the command's status.
"""
import os
import subprocess
import sys
import time


def main():
    out, cmd = sys.argv[1], sys.argv[2:]
    p = subprocess.Popen(cmd)
    while True:
        with open(f"/proc/{p.pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        if state == "Z":
            break
        time.sleep(0.002)
    with open(f"/proc/{p.pid}/io") as f:
        io = dict(line.split(": ") for line in f.read().splitlines())
    with open(out, "w") as f:
        f.write(f"{io['rchar'].strip()} {io['wchar'].strip()}\n")
    sys.exit(p.wait())


if __name__ == "__main__":
    main()
