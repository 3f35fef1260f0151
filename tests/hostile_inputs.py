"""Inputs that must be refused without being acted on: FIFOs, file names that read as pipes."""

import contextlib
import os
import threading

PIPE_NAME = "clip;touch PWNED;|"  # read as a Kaldi pipe, it would create ./PWNED


@contextlib.contextmanager
def fifo_with_writer(path):
    """A FIFO at `path`, with a thread that keeps opening and closing its write end.

    Code that opens the FIFO gets EOF instead of blocking forever (so an old reader fails
    with a wrong message instead of hanging the test); code that refuses it never opens
    it, and the writer is released when the block ends.
    """
    os.mkfifo(path)
    stop = threading.Event()

    def writer():
        while not stop.is_set():
            with open(path, "wb"):
                pass

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        yield str(path)
    finally:
        stop.set()
        while thread.is_alive():  # unblock a writer waiting in open()
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            thread.join(0.05)
            os.close(fd)


def read_sizes(monkeypatch):
    """Record the `frames` of every soundfile read (one list, appended in call order)."""
    import soundfile as sf

    sizes = []
    real = sf.SoundFile.read

    def spy(self, frames=-1, *args, **kwargs):
        sizes.append(frames)
        return real(self, frames, *args, **kwargs)

    monkeypatch.setattr(sf.SoundFile, "read", spy)
    return sizes
